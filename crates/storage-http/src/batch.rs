//! Batch answers (`multipart/mixed` bodies holding one HTTP response per sub-request), as
//! Azure's Blob Batch and Google's JSON batch send them.

/// One sub-response of a batch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPart {
    /// The part's `Content-ID` (`0`, `response-3`...), if any.
    pub content_id: Option<String>,
    /// The position of the part in the answer (0-based).
    pub position: usize,
    /// The sub-response's status.
    pub status: u16,
    /// The sub-response's headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The sub-response's body.
    pub body: String,
}

impl BatchPart {
    /// A header's value (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The number at the end of the Content-ID (`3` for `response-3` or `<response-3>`).
    pub fn id_number(&self) -> Option<usize> {
        let id = self.content_id.as_deref()?.trim_matches(['<', '>']);
        let digits = id.rsplit(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()
    }
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Reads a batch answer: every part that holds an HTTP response, in order. Parts without
/// a status line are skipped; the closing delimiter ends the list.
pub fn parse_batch(text: &str, boundary: &str) -> Vec<BatchPart> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for (position, part) in text.split(delimiter.as_str()).skip(1).enumerate() {
        if part.starts_with("--") {
            break;
        }
        let lines: Vec<&str> = part.split('\n').map(|l| l.trim_end_matches('\r')).collect();
        let Some(at) = lines.iter().position(|l| l.starts_with("HTTP/")) else { continue };
        let Some(status) = lines[at].split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()) else { continue };
        let content_id = lines[..at].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-id").then(|| v.trim().to_owned())
        });
        let after = &lines[at + 1..];
        let blank = after.iter().position(|l| l.trim().is_empty()).unwrap_or(after.len());
        let headers = after[..blank]
            .iter()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = after.get(blank + 1..).map(|b| b.join("\n")).unwrap_or_default().trim().to_owned();
        out.push(BatchPart { content_id, position, status, headers, body });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_and_google_batch_answers_parse() {
        let azure = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\nHTTP/1.1 202 Accepted\r\nx-ms-delete-type-permanent: true\r\n\r\n\
                     --batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 404 The specified blob does not exist.\r\nx-ms-error-code: BlobNotFound\r\n\r\n<?xml?><Error/>\r\n\
                     --batchresponse_1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 403 Forbidden\r\nx-ms-error-code: AuthorizationFailure\r\n\r\n\
                     --batchresponse_1--\r\n";
        let parts = parse_batch(azure, "batchresponse_1");
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[0].id_number(), parts[0].status), (Some(0), 202));
        assert_eq!(parts[1].header("x-ms-error-code"), Some("BlobNotFound"));
        assert_eq!(parts[1].body, "<?xml?><Error/>");
        assert_eq!((parts[2].content_id.as_deref(), parts[2].position, parts[2].status), (None, 2, 403));
        let google = "--batch_abc\r\nContent-Type: application/http\r\nContent-ID: <response-2>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"error\":{\"code\":404,\"errors\":[{\"reason\":\"notFound\"}]}}\r\n--batch_abc--";
        let parts = parse_batch(google, "batch_abc");
        assert_eq!((parts[0].id_number(), parts[0].status), (Some(2), 404));
        assert!(parts[0].body.contains("notFound"));
        assert_eq!(boundary_of("multipart/mixed; boundary=\"batch_x\""), Some("batch_x".into()));
    }
}
