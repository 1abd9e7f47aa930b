//! nginx (Debian's package; `.ci/run` installs it) as the load balancer in front of several
//! `cardhook serve` instances, logging which instance answered each request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

pub struct Nginx {
    child: Child,
    pub addr: String,
    access_log: PathBuf,
}

impl Nginx {
    /// Round-robin over `upstreams`; a request that cannot reach one instance goes to the next.
    pub async fn start(dir: &Path, upstreams: &[String]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let d = dir.display();
        let servers: String = upstreams
            .iter()
            .map(|u| format!("server {u} max_fails=1 fail_timeout=2s;"))
            .collect();
        let config = dir.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "user root; worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format upstreams '$upstream_addr $status';
  access_log {d}/nginx-access.log upstreams;
  client_body_temp_path {d}/nginx-body; proxy_temp_path {d}/nginx-proxy;
  fastcgi_temp_path {d}/nginx-fcgi; uwsgi_temp_path {d}/nginx-uwsgi; scgi_temp_path {d}/nginx-scgi;
  upstream cardhook {{ {servers} keepalive 16; }}
  server {{
    listen {addr};
    location / {{
      proxy_pass http://cardhook;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_connect_timeout 1s;
      proxy_next_upstream error timeout;
    }}
  }}
}}
"
            ),
        )
        .expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&config)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("nginx is required by the scale-out test (.ci/run installs Debian's nginx): {e}")
            });
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return Self {
                    child,
                    addr,
                    access_log: dir.join("nginx-access.log"),
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "nginx did not listen on {addr}: {}",
            std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
        );
    }

    /// How many requests each upstream answered `status` (from the access log).
    pub fn answered_by(&self, status: u16) -> std::collections::BTreeMap<String, usize> {
        let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        let mut counts = std::collections::BTreeMap::new();
        for line in log.lines() {
            // `a, b 200`: a was tried first; the last upstream is the one that answered.
            if let Some((upstreams, code)) = line.rsplit_once(' ') {
                let answered = upstreams.rsplit(", ").next().unwrap_or(upstreams);
                if code == status.to_string() {
                    *counts.entry(answered.to_owned()).or_default() += 1;
                }
            }
        }
        counts
    }

    /// Fast shutdown of the master and its workers (SIGKILL would orphan the workers).
    pub async fn stop(mut self) {
        self.terminate();
        let _ = self.child.wait().await;
    }

    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.terminate();
    }
}
