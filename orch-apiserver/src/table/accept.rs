//! Whether an Accept header asks for a `Table`.

/// True if an Accept header asks for a Table (`application/json;as=Table;v=v1;g=meta.k8s.io`, also v1beta1; parameters in any order, spaces allowed, several media types separated by commas).
///
/// The media types are weighed as kube-apiserver's negotiation weighs them:
/// by `q` (default 1; `q=0` refuses), a wildcard after a concrete type,
/// otherwise in the order given; the first one this server could answer
/// decides. A Table request (`as=Table` with `g=meta.k8s.io` and `v=v1` or
/// `v1beta1`) answers true; plain `application/json`, YAML, protobuf or a
/// wildcard answer false; other `as=` conversions (discovery documents,
/// `PartialObjectMetadata`) and unknown types are skipped. So kubectl's
/// `get` header (`…as=Table;v=v1;g=meta.k8s.io,…,application/json`) is true,
/// and its discovery, typed-client, `-o yaml` and `*/*` headers are false.
/// Type and parameter names are case-insensitive; values are not.
pub fn wants_table(accept: &str) -> bool {
    let mut clauses: Vec<Clause<'_>> = accept.split(',').filter_map(Clause::parse).collect();
    // A stable sort keeps the header's order among equals, as Go's
    // insertion sort does for the few entries an Accept header has.
    clauses.sort_by(|a, b| {
        b.q.total_cmp(&a.q)
            .then((a.type_ == "*").cmp(&(b.type_ == "*")))
            .then((a.subtype == "*").cmp(&(b.subtype == "*")))
    });
    for c in clauses.iter().filter(|c| c.q > 0.0) {
        match c.verdict() {
            Some(verdict) => return verdict,
            None => continue,
        }
    }
    false
}

/// One media range of an Accept header.
struct Clause<'a> {
    type_: String,
    subtype: String,
    q: f64,
    params: Vec<(String, &'a str)>,
}

impl<'a> Clause<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.split(';');
        let (type_, subtype) = parts.next()?.trim().split_once('/')?;
        let mut clause = Clause {
            type_: type_.trim().to_ascii_lowercase(),
            subtype: subtype.trim().to_ascii_lowercase(),
            q: 1.0,
            params: Vec::new(),
        };
        if clause.type_.is_empty() || clause.subtype.is_empty() {
            return None;
        }
        for p in parts {
            let Some((k, v)) = p.split_once('=') else { continue };
            let key = k.trim().to_ascii_lowercase();
            let value = v.trim().trim_matches('"');
            if key == "q" {
                clause.q = value.parse().unwrap_or(0.0);
            } else {
                clause.params.push((key, value));
            }
        }
        Some(clause)
    }

    fn param(&self, key: &str) -> Option<&'a str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// `Some(true)`: a Table; `Some(false)`: something else this server
    /// serves; `None`: not servable, try the next one.
    fn verdict(&self) -> Option<bool> {
        let json = matches!(
            (self.type_.as_str(), self.subtype.as_str()),
            ("application", "json") | ("application", "*") | ("*", "*")
        );
        match self.param("as") {
            Some("Table") if json => {
                let group = self.param("g") == Some("meta.k8s.io");
                let version = matches!(self.param("v"), Some("v1" | "v1beta1"));
                (group && version).then_some(true)
            }
            Some(_) => None,
            None => {
                let other = matches!(
                    (self.type_.as_str(), self.subtype.as_str()),
                    ("application", "yaml") | ("application", "vnd.kubernetes.protobuf")
                );
                (json || other).then_some(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl v1.32's Accept strings (KUBECTL-NOTES.md, "Accept strings").
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    const DISC: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const PB: &str = "application/vnd.kubernetes.protobuf,application/json";
    const JSON: &str = "application/json";
    const ANY: &str = "application/json, */*";

    #[test]
    fn kubectl_accept_strings() {
        for (alias, accept, want) in [
            ("TABLE", TABLE, true),
            ("DISC", DISC, false),
            ("PB", PB, false),
            ("JSON", JSON, false),
            ("ANY", ANY, false),
        ] {
            assert_eq!(wants_table(accept), want, "{alias}");
        }
    }

    #[test]
    fn variants() {
        for (accept, want) in [
            ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", true),
            ("application/json; g=meta.k8s.io; v=v1; as=Table", true),
            (" Application/JSON ;AS=Table;G=meta.k8s.io;V=v1 , application/json", true),
            ("application/json;as=Table;g=meta.k8s.io;v=\"v1\"", true),
            ("text/html, application/json;as=Table;v=v1;g=meta.k8s.io", true),
            // Not a Table, or not one this server makes.
            ("application/json;as=Table;v=v2;g=meta.k8s.io", false),
            ("application/json;as=Table;v=v1", false),
            ("application/json;as=Table;v=v1;g=example.com", false),
            ("application/json;as=table;v=v1;g=meta.k8s.io", false),
            ("application/yaml;as=Table;v=v1;g=meta.k8s.io", false),
            ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", false),
            // Order and weights.
            ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", false),
            ("application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io", true),
            ("application/json;as=Table;v=v1;g=meta.k8s.io;q=0, application/json", false),
            ("*/*, application/json;as=Table;v=v1;g=meta.k8s.io", true),
            ("", false),
            (",,;", false),
            ("*/*", false),
        ] {
            assert_eq!(wants_table(accept), want, "{accept:?}");
        }
    }
}
