//! Who a request comes from, and how many of its requests may be in progress at once.
//!
//! WeChat calls only ports 80 and 443, so cardhook sits behind a TLS proxy: then the peer is the
//! proxy, and the client is what the proxy says. Only a peer listed in `server.trusted_proxies`
//! is believed: the client is the rightmost `X-Forwarded-For` hop that is not itself a trusted
//! proxy (everything left of it could be written by the client), else `X-Real-IP`, else the peer.
//! Rate limits, the per-client cap and log lines all use this address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use ipnet::IpNet;

/// Whether the misconfiguration [`TrustedProxies::of`] notices was logged already (once is enough).
static WARNED: AtomicBool = AtomicBool::new(false);

/// The proxies whose forwarding headers are believed (`server.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parse CIDRs (`10.0.0.0/8`) or single addresses; the entry that does not parse, on error.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| entry.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(nets)))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`, given the request's forwarding headers (pure).
    pub fn client(
        &self,
        peer: IpAddr,
        forwarded_for: Option<&str>,
        real_ip: Option<&str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        if let Some(hops) = forwarded_for {
            let mut last = None;
            for hop in hops.rsplit(',') {
                // A hop that is not an address ends the chain: nothing left of it is believed.
                let Some(address) = parse_hop(hop) else {
                    break;
                };
                if !self.trusts(address) {
                    return address;
                }
                last = Some(address);
            }
            if let Some(address) = last {
                return address;
            }
        }
        real_ip.and_then(parse_hop).unwrap_or(peer)
    }

    /// The client of `req` (the peer when the connection has no address, e.g. a test request).
    /// Every `X-Forwarded-For` line counts, in order (a proxy may add a line of its own).
    pub fn of(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("X-Forwarded-For")
            .filter_map(|v| v.to_str().ok())
            .collect();
        if self.0.is_empty() && !forwarded.is_empty() && !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                peer = %peer,
                "X-Forwarded-For arrives but server.trusted_proxies is empty: behind a proxy every client has the proxy's address (one rate limit for all); list the proxy"
            );
        }
        let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
        let real_ip = req.headers().get("X-Real-IP").and_then(|v| v.to_str().ok());
        self.client(peer, forwarded.as_deref(), real_ip)
    }
}

/// An address as written in a header: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80` or `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as dual-stack sockets report IPv4 peers) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request, as the middleware found it (handlers read it from here).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The client of `req`: the one [`limit_per_client`] recorded, else the peer.
    pub fn of(req: &HttpRequest) -> IpAddr {
        req.extensions()
            .get::<ClientAddress>()
            .map(|c| c.0)
            .or_else(|| req.peer_addr().map(|a| canonical(a.ip())))
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }
}

/// Requests in progress per client address, at most `cap` each: a client that trickles bodies
/// (or opens thousands of requests) holds at most `cap` of them until the body deadline cuts them.
#[derive(Debug, Clone)]
pub struct ClientSlots {
    cap: usize,
    proxies: TrustedProxies,
    busy: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientSlots {
    pub fn new(cap: usize, proxies: TrustedProxies) -> Self {
        Self {
            cap,
            proxies,
            busy: Arc::default(),
        }
    }

    /// A slot for `client`, held until the guard drops; None when it has `cap` already.
    fn take(&self, client: IpAddr) -> Option<SlotGuard> {
        let mut busy = self.busy.lock().ok()?;
        let held = busy.entry(client).or_insert(0);
        if *held >= self.cap {
            return None;
        }
        *held += 1;
        Some(SlotGuard {
            slots: self.busy.clone(),
            client,
        })
    }
}

struct SlotGuard {
    slots: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.slots.lock() {
            if let Some(held) = busy.get_mut(&self.client) {
                *held -= 1;
                if *held == 0 {
                    busy.remove(&self.client);
                }
            }
        }
    }
}

/// Middleware of the callback listener: find the client (trusted proxies), record it for the
/// handlers, and hold one of its slots for the whole request; a client over its cap gets 429 at
/// once and its connection closed, before any body is read.
pub async fn limit_per_client(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(slots) = req.app_data::<web::Data<ClientSlots>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let client = slots.proxies.of(req.request());
    req.extensions_mut().insert(ClientAddress(client));
    let Some(_slot) = slots.take(client) else {
        tracing::warn!(remote = %client, path = req.path(), "too many requests in progress from one client; refused");
        let response = HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "10"))
            .insert_header(("Connection", "close"))
            .json(serde_json::json!({
                "error": "too_many_requests",
                "message": "too many requests in progress from this address",
            }));
        return Ok(req.into_response(response));
    };
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.7".into()]).unwrap();
        let client = |peer: &str, xff: Option<&str>, real: Option<&str>| {
            proxies.client(ip(peer), xff, real).to_string()
        };
        // Not from a proxy: the peer, whatever it claims.
        assert_eq!(
            client("203.0.113.9", Some("1.1.1.1"), Some("2.2.2.2")),
            "203.0.113.9"
        );
        // From a proxy: the rightmost hop that is not a proxy; hops left of it are the client's own words.
        assert_eq!(
            client("10.0.0.2", Some("6.6.6.6, 198.51.100.4"), None),
            "198.51.100.4"
        );
        assert_eq!(
            client("10.0.0.2", Some("6.6.6.6, 198.51.100.4, 10.1.2.3"), None),
            "198.51.100.4"
        );
        assert_eq!(
            client("192.168.1.7", Some("198.51.100.4:5555"), None),
            "198.51.100.4"
        );
        // Garbage ends the chain; a chain of proxies only gives its leftmost.
        assert_eq!(
            client("10.0.0.2", Some("6.6.6.6, junk, 10.0.0.9"), None),
            "10.0.0.9"
        );
        assert_eq!(client("10.0.0.2", Some(""), None), "10.0.0.2");
        // X-Real-IP when there is no X-Forwarded-For.
        assert_eq!(
            client("10.0.0.2", None, Some("198.51.100.5")),
            "198.51.100.5"
        );
        assert_eq!(client("10.0.0.2", None, Some("nonsense")), "10.0.0.2");
        // IPv6 and IPv4-mapped peers.
        assert_eq!(
            client("::ffff:10.0.0.2", Some("[2001:db8::1]:80"), None),
            "2001:db8::1"
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        // With no proxies configured, headers are never read.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), Some("1.1.1.1"), None)
                .to_string(),
            "127.0.0.1"
        );
    }

    #[test]
    fn every_forwarded_for_line_counts_in_order() {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        let req = actix_web::test::TestRequest::default()
            .peer_addr("127.0.0.1:4000".parse().unwrap())
            .append_header(("X-Forwarded-For", "6.6.6.6"))
            .append_header(("X-Forwarded-For", "198.51.100.9"))
            .to_http_request();
        assert_eq!(proxies.of(&req), ip("198.51.100.9"));
    }

    #[test]
    fn a_client_holds_at_most_its_cap_of_slots() {
        let slots = ClientSlots::new(2, TrustedProxies::default());
        let (a, b) = (ip("198.51.100.1"), ip("198.51.100.2"));
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert!(slots.take(a).is_none());
        assert!(slots.take(b).is_some(), "another client is not affected");
        drop(first);
        assert!(slots.take(a).is_some(), "a finished request frees its slot");
    }
}
