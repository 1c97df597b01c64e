//! URL query strings (`application/x-www-form-urlencoded`), read the same way by the apiserver
//! (every request's parameters) and the kubelet (exec, attach and port-forward sessions).
//!
//! Like Go's `url.ParseQuery`, pairs are split on `&`, a pair without `=` has an empty value
//! and `+` is a space. Unlike it, a malformed escape is kept as it is instead of failing the
//! whole query: the caller then rejects the value it cannot use, with a message naming it.

/// The decoded `key=value` pairs of `query`, in order (a key may repeat); empty pairs are
/// skipped.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// Decodes one component of a query (`+` is a space); malformed escapes stay as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(hex_digit),
                bytes.get(i + 2).and_then(hex_digit),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(digit: &u8) -> Option<u8> {
    (*digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let cases = [
            (
                "labelSelector=app%3Dweb&watch=1",
                vec![("labelSelector", "app=web"), ("watch", "1")],
            ),
            (
                "fieldSelector=spec.nodeName%3Dn1%2Cstatus.phase%21%3DRunning",
                vec![("fieldSelector", "spec.nodeName=n1,status.phase!=Running")],
            ),
            ("a=b+c&flag", vec![("a", "b c"), ("flag", "")]),
            ("bad=%zz%4", vec![("bad", "%zz%4")]),
            // A sign is not a hex digit: the `%` stays, the `+` is still a space.
            ("signed=%+1%-1", vec![("signed", "% 1%-1")]),
            (
                "&command=sh&&command=echo+hi%3B+exit+3&",
                vec![("command", "sh"), ("command", "echo hi; exit 3")],
            ),
            ("", vec![]),
        ];
        for (raw, expected) in cases {
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            assert_eq!(pairs(raw), expected, "{raw}");
        }
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(percent_decode("%C3%A9t%C3%A9%"), "été%");
    }
}
