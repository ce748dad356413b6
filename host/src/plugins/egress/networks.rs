//! Which addresses a plugin may reach: globally routable unicast only, checked on the
//! resolved address at connect time (a host name proves nothing about where it points).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a globally routable unicast address a plugin may reach.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254, the cloud metadata address
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // An allowlist, not a blocklist: only the global unicast space 2000::/3 is routed on the
    // internet. Everything outside it is refused without naming it: loopback, unspecified,
    // IPv4-mapped (::ffff:0:0/96 and ::ffff:0:0:0/96), -compatible and NAT64 (64:ff9b::/96)
    // forms, discard-only 100::/64, SRv6 5f00::/16, unique local fc00::/7, site-local
    // fec0::/10, link-local fe80::/10, multicast ff00::/8.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let carved_out = match s[0] {
        // 2001::/23 IETF protocol assignments (Teredo, ORCHID, benchmarking); 2001:db8::/32
        // documentation.
        0x2001 => s[1] < 0x0200 || s[1] == 0x0db8,
        // 6to4, which embeds an IPv4 address.
        0x2002 => true,
        // 3fff::/20 documentation.
        0x3fff => s[1] < 0x1000,
        _ => false,
    };
    global_unicast && !carved_out
}

/// Loopback: the only addresses the test-only switch adds to the global ones.
pub(super) fn allowed_in_test_mode(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001::1",
            "2001:db8::1",
            // Outside or carved out of 2000::/3, which a blocklist let through.
            "fec0::1",
            "::ffff:0:7f00:1",
            "100::1",
            "2001:10::1",
            "2001:2::1",
            "3fff::1",
            "5f00::1",
        ] {
            let ip: IpAddr = bad.parse().expect(bad);
            assert!(!is_global(ip), "{bad} must be refused");
        }
        for good in [
            "1.1.1.1",
            "162.159.128.233",
            "2606:4700::6810:84e5",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
        ] {
            let ip: IpAddr = good.parse().expect(good);
            assert!(is_global(ip), "{good} is global");
        }
    }

    #[test]
    fn test_mode_admits_loopback_only() {
        assert!(allowed_in_test_mode("127.0.0.1".parse().expect("ip")));
        assert!(allowed_in_test_mode("::1".parse().expect("ip")));
        assert!(!allowed_in_test_mode("10.0.0.1".parse().expect("ip")));
        assert!(!allowed_in_test_mode(
            "169.254.169.254".parse().expect("ip")
        ));
    }
}
