//! AMQP topic matching, for the embedded broker: `*` stands for exactly one
//! word, `#` for zero or more.

pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn go(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.first(), key.first()) {
            (None, None) => true,
            (Some(&"#"), _) => {
                go(&pattern[1..], key) || (!key.is_empty() && go(pattern, &key[1..]))
            }
            (Some(&"*"), Some(_)) => go(&pattern[1..], &key[1..]),
            (Some(p), Some(k)) if p == k => go(&pattern[1..], &key[1..]),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    go(&pattern, &key)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn wildcards_match_like_rabbitmq() {
        assert!(topic_matches(
            "contributions.#",
            "contributions.input.created.v1"
        ));
        assert!(topic_matches("#", "a.b"));
        assert!(topic_matches(
            "*.input.*.v1",
            "contributions.input.created.v1"
        ));
        assert!(topic_matches("a.#.z", "a.z"));
        assert!(topic_matches("a.#.z", "a.b.c.z"));
        assert!(!topic_matches(
            "*.input.*.v1",
            "contributions.input.created.v2"
        ));
        assert!(!topic_matches(
            "projects.#",
            "contributions.input.created.v1"
        ));
        assert!(!topic_matches("a.*", "a"));
        assert!(topic_matches("exact.key.v1", "exact.key.v1"));
    }
}
