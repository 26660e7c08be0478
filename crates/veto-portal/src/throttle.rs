//! Limits on failed logins, per client address and per account. Only
//! failures count: a person who types their password right is never slowed
//! down, while one password tried against many accounts (spraying) or many
//! passwords against one account (guessing) is stopped after a few tries.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many keys, keys whose failures have all expired are dropped,
/// so a flood of distinct usernames cannot grow the table without bound.
const PRUNE_ABOVE: usize = 10_000;

/// At most `max` failures per key within a sliding `window`.
pub struct FailureLimit {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimit {
    pub fn new(max: u32, window: Duration) -> FailureLimit {
        FailureLimit {
            max: max.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` must wait, if it has used up its failures.
    pub fn blocked(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let q = map.get_mut(key)?;
        expire(q, now, self.window);
        if q.len() < self.max {
            return None;
        }
        let oldest = *q.front()?;
        Some((oldest + self.window).saturating_duration_since(now))
    }

    /// Counts one failed attempt for `key`.
    pub fn record(&self, key: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, q| {
                expire(q, now, self.window);
                !q.is_empty()
            });
        }
        let q = map.entry(key.to_string()).or_default();
        expire(q, now, self.window);
        q.push_back(now);
        // Concurrent attempts may all pass `blocked` before any is recorded.
        while q.len() > self.max {
            q.pop_front();
        }
    }

    /// Forgets the failures of `key` (an account after a right password).
    pub fn clear(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

fn expire(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
        q.pop_front();
    }
}

/// The client bucket of an address: the address itself for IPv4, the /64
/// network for IPv6 (one subscriber usually holds a whole /64, so counting
/// single IPv6 addresses would give an attacker billions of buckets).
pub fn client_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The client's address. The peer of the connection, unless the peer is
/// one of `trusted` proxies: then the rightmost address in
/// `X-Forwarded-For` that is not itself a trusted proxy (the leftmost ones
/// are whatever the client wrote). Without trusted proxies no forwarded
/// header is believed (ASVS 14.5.4): a client cannot pick its own bucket.
pub fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let peer = canonical(peer);
    let trusted: Vec<IpAddr> = trusted.iter().copied().map(canonical).collect();
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { return peer };
        for part in value.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(canonical(ip)),
                // A hop that is not an address: nothing left of it can be
                // told apart from what the client made up.
                Err(_) => hops.clear(),
            }
        }
    }
    hops.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer)
}

/// The failed-login limits of a portal.
pub struct LoginThrottle {
    pub per_client: FailureLimit,
    pub per_account: FailureLimit,
}

impl LoginThrottle {
    pub fn new(per_client: u32, per_account: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            per_client: FailureLimit::new(per_client, window),
            per_account: FailureLimit::new(per_account, window),
        }
    }

    /// How long to wait before the next attempt from `client` for
    /// `username`, if either has used up its failures.
    pub fn blocked(&self, client: &str, username: &str, now: Instant) -> Option<Duration> {
        let a = self.per_client.blocked(client, now);
        let b = self.per_account.blocked(username, now);
        a.max(b)
    }

    pub fn failed(&self, client: &str, username: &str, now: Instant) {
        self.per_client.record(client, now);
        self.per_account.record(username, now);
    }

    /// A right password clears the account's failures but not the client's:
    /// an attacker with one valid account must not reset their own count.
    pub fn succeeded(&self, username: &str) {
        self.per_account.clear(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_after_the_limit_until_the_window_passes() {
        let l = FailureLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.blocked("k", t0), None, "attempt {i}");
            l.record("k", t0 + Duration::from_secs(i));
        }
        let wait = l.blocked("k", t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(l.blocked("other", t0), None);
        assert_eq!(l.blocked("k", t0 + Duration::from_secs(60)), None, "the oldest expired");
        l.clear("k");
        assert_eq!(l.blocked("k", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_bucket() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_bucket(a), client_bucket(b));
        assert_ne!(client_bucket(a), client_bucket(c));
        assert_eq!(client_bucket("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7".parse().unwrap());
        // Not behind the proxy: the header is the client's own claim.
        assert_eq!(
            client_ip("203.0.113.1".parse().unwrap(), &h, &[proxy]).to_string(),
            "203.0.113.1"
        );
        assert_eq!(client_ip(proxy, &h, &[]).to_string(), "10.0.0.5");
        // Behind it: the hop the proxy saw, not what the client prepended.
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "198.51.100.7");
        // Two proxies in a row; the mapped IPv6 form of the peer is the same proxy.
        let inner: IpAddr = "10.0.0.6".parse().unwrap();
        h.insert("x-forwarded-for", "198.51.100.7, 10.0.0.6".parse().unwrap());
        assert_eq!(
            client_ip("::ffff:10.0.0.5".parse().unwrap(), &h, &[proxy, inner]).to_string(),
            "198.51.100.7"
        );
        // Junk in the header: nothing left of it is believed.
        h.insert("x-forwarded-for", "198.51.100.7, junk".parse().unwrap());
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "10.0.0.5");
        h.remove("x-forwarded-for");
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "10.0.0.5");
    }
}
