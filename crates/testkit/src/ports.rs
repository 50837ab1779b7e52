//! Local ports for tests, bound once and kept: no "bind, read the port, drop, reuse" window
//! in which another process can take the port.

use std::net::SocketAddr;

/// A port on 127.0.0.1 that is bound but not listening, for as long as this value lives:
/// nothing else can take it, and connecting to it is refused at once (the "nothing
/// listening there" case, without the race of freeing a port and hoping it stays free).
#[derive(Debug)]
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// Binds an ephemeral port without listening on it.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub fn bind() -> ClosedPort {
        let socket = match tokio::net::TcpSocket::new_v4() {
            Ok(socket) => socket,
            Err(e) => panic!("closed port: cannot create a socket: {e}"),
        };
        if let Err(e) = socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))) {
            panic!("closed port: cannot bind 127.0.0.1: {e}");
        }
        let addr = match socket.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("closed port: no local address: {e}"),
        };
        ClosedPort {
            _socket: socket,
            addr,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

#[cfg(test)]
mod tests {
    use super::ClosedPort;

    #[test]
    fn connecting_is_refused_while_the_port_stays_taken() {
        let closed = ClosedPort::bind();
        let error = std::net::TcpStream::connect(closed.addr()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        // Taken: nobody else can bind it meanwhile.
        assert!(std::net::TcpListener::bind(closed.addr()).is_err());
    }
}
