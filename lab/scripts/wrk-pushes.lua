-- wrk drives the pushes `cardhook bench --save FILE` sealed (each request as its byte length on a line,
-- then the raw HTTP/1.1 request): thread k of n sends requests k, k+n, k+2n, … in order and starts
-- over at the end of its stripe (exact redeliveries, which cardhook answers and stores once).
-- PUSHES=FILE WRK_THREADS=n wrk -t n -c 64 -d 4s -s tools/wrk-pushes.lua http://HOST:PORT/
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  local file = assert(io.open(os.getenv("PUSHES"), "rb"))
  local threads = tonumber(os.getenv("WRK_THREADS") or "1")
  stripe = {}
  local k = 0
  while true do
    local length = file:read("*l")
    if not length then break end
    local raw = file:read(tonumber(length))
    if k % threads == tid then stripe[#stripe + 1] = raw end
    k = k + 1
  end
  file:close()
  next_one = 0
end
function request()
  next_one = next_one % #stripe + 1
  return stripe[next_one]
end
