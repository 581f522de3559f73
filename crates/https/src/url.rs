//! `https://host[:port]/path` — the only URLs this client takes.

use crate::Error;

/// A parsed `https:` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpsUrl {
    /// The host name (lower-case, no trailing dot) or an IP literal (without brackets).
    pub host: String,
    /// The port (443 unless the URL says otherwise).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpsUrl {
    /// Parses an `https://` URL. Refuses other schemes, user info, fragments, empty or
    /// malformed hosts and ports.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidUrl {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = text.parse().map_err(|e| bad(&format!("{e}")))?;
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => {}
            Some(_) => return Err(bad("only https: URLs are fetched")),
            None => return Err(bad("no scheme (https:// expected)")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not allowed"));
        }
        if text.contains('#') {
            return Err(bad("a fragment is not allowed"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        // `Authority::port` hides a port that is not a u16: read it from the text.
        let text_auth = authority.as_str();
        let after_host = text_auth.rsplit_once(']').map_or(text_auth, |(_, r)| r);
        let port = match after_host.rsplit_once(':') {
            None => 443,
            Some((_, p)) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        };
        if port == 0 {
            return Err(bad("port 0"));
        }
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        Ok(HttpsUrl { host, port, path })
    }

    /// The value of the `Host` header (RFC 9110 §7.2): the port only when not 443.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}{}", self.host_header(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let u = HttpsUrl::parse("https://MTA-STS.Example.COM./.well-known/mta-sts.txt").unwrap();
        assert_eq!(u.host, "mta-sts.example.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.path, "/.well-known/mta-sts.txt");
        assert_eq!(u.host_header(), "mta-sts.example.com");
        let u = HttpsUrl::parse("https://r.example:8443").unwrap();
        assert_eq!((u.port, u.path.as_str()), (8443, "/"));
        assert_eq!(u.to_string(), "https://r.example:8443/");
        let u = HttpsUrl::parse("https://[::1]:99/a?b=c").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("::1", "/a?b=c"));
        assert_eq!(u.host_header(), "[::1]:99");
        for bad in [
            "http://example.com/",
            "example.com/x",
            "https:///x",
            "https://u@example.com/",
            "https://example.com/#f",
            "https://example.com:0/",
            "https://example.com:99999/",
            "mailto:a@b",
        ] {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
