//! HTTP cookie helpers shared by the two kinds of stickiness: target stickiness
//! (`sticky.rs`, ELB's `AWSALB`/`AWSALBAPP`, HAProxy's `cookie`) and group stickiness of a
//! weighted forward (`rules/forward.rs`, ELB's `AWSALBTG`). Both name what they stick to by an
//! opaque value and look for it among a request's `Cookie` pairs.

/// An opaque, stable cookie value for `name` (a target's address, a group's name): FNV-1a as
/// 16 hex digits — the same on every shard, across restarts and reloads, and it does not spell
/// what it stands for (ELB's values are opaque too).
pub fn opaque_value(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The value of cookie `name` in one `Cookie` field value (`a=1; NAME=v; b=2`).
pub fn value_in<'v>(field: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    field.split(|&b| b == b';').find_map(|pair| pair.trim_ascii().strip_prefix(name)?.strip_prefix(b"="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_pairs_and_values_are_stable() {
        assert_eq!(value_in(b"a=1; AWSALB=xyz ;b=2", b"AWSALB"), Some(&b"xyz"[..]));
        assert_eq!(value_in(b"AWSALBTG=1", b"AWSALB"), None);
        assert_eq!(opaque_value("10.0.0.1:80"), opaque_value("10.0.0.1:80"));
        assert_eq!(opaque_value("").len(), 16);
    }
}
