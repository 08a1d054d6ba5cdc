//! Which addresses a user-supplied URL may reach. Anything that is not a
//! plain public unicast address is refused, because the fetch runs on the
//! user's machine (or server) and must not become a way to probe the local
//! network, cloud metadata endpoints or services bound to loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` must not be fetched from, or `None` for a public address.
pub(crate) fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_reason(ip),
        IpAddr::V6(ip) => v6_reason(ip),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if a == 0 {
        // 0.0.0.0/8: "this network"; 0.0.0.0 itself reaches localhost on Linux.
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("carrier-grade NAT")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Forms that carry an IPv4 address and may be routed to it: judge them
    // by that address, so `::ffff:127.0.0.1` is as loopback as `127.0.0.1`.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let seg = ip.segments();
    let [.., o12, o13, o14, o15] = ip.octets();
    let low_v4 = Ipv4Addr::new(o12, o13, o14, o15);
    if seg[..6] == [0; 6] {
        // Deprecated IPv4-compatible form (::a.b.c.d); nothing legitimate uses it.
        return Some(v4_reason(low_v4).unwrap_or("reserved"));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix.
        return v4_reason(low_v4);
    }
    if seg[0] == 0x2002 {
        // 6to4 embeds the IPv4 address in the second and third segments.
        let [hi, lo] = [seg[1].to_be_bytes(), seg[2].to_be_bytes()];
        return v4_reason(Ipv4Addr::new(hi[0], hi[1], lo[0], lo[1]));
    }
    match seg[0] {
        s if s & 0xfe00 == 0xfc00 => Some("private (unique local)"),
        s if s & 0xffc0 == 0xfe80 => Some("link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("private (site-local)"),
        s if s & 0xff00 == 0xff00 => Some("multicast"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(s: &str) -> bool {
        blocked_reason(s.parse().unwrap()).is_some()
    }

    #[test]
    fn ipv4() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
        ] {
            assert!(blocked(ip), "{ip} should be blocked");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "169.255.0.1",
            "11.0.0.1",
            "93.184.216.34",
        ] {
            assert!(!blocked(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn ipv6() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(blocked(ip), "{ip} should be blocked");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "fe00::1",
            "2a00:1450::1",
        ] {
            assert!(!blocked(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn ipv4_embedded_in_ipv6() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:100.64.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            assert!(blocked(ip), "{ip} should be blocked");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(!blocked(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn reasons_are_readable() {
        assert_eq!(
            blocked_reason("127.0.0.1".parse().unwrap()),
            Some("loopback")
        );
        assert_eq!(
            blocked_reason("::ffff:192.168.0.1".parse().unwrap()),
            Some("private")
        );
        assert_eq!(
            blocked_reason("fe80::1".parse().unwrap()),
            Some("link-local")
        );
    }
}
