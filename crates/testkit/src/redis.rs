//! The Redis server used by tests.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Default when `ROLLCALL_TEST_REDIS_URL` is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// The test Redis URL (`ROLLCALL_TEST_REDIS_URL`, default [`DEFAULT_URL`]), after checking
/// that a Redis server answers `PING` there.
///
/// # Panics
/// If the server cannot be reached, with instructions.
pub fn redis_url() -> String {
    let url = std::env::var("ROLLCALL_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    if let Err(why) = ping(&url) {
        panic!(
            "Redis is not reachable at {url} ({why}). Start one (e.g. `redis-server` or \
             `docker run -p 6379:6379 redis:7`) or set ROLLCALL_TEST_REDIS_URL"
        );
    }
    url
}

/// A key prefix no other test uses, e.g. `rollcall-test:3f2a...:`.
pub fn unique_prefix() -> String {
    format!("rollcall-test:{}:", uuid::Uuid::new_v4().simple())
}

/// Sends `PING` over plain TCP (no authentication) and expects `+PONG`.
fn ping(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(6379);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0_u8; 64];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    let reply = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
    // `-NOAUTH` still proves a server is there; the client will authenticate.
    if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
        Ok(())
    } else {
        Err(format!("unexpected reply {reply:?}"))
    }
}
