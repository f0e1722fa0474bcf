//! S3 objects of the evidence bucket: PutObject and GetObject, as S3's REST API, signed with
//! Signature Version 4 by `aws-sigv4` (the signer every AWS SDK client uses) and sent over reqwest.
//!
//! Why not `aws-sdk-s3`: measured on the two-core build machine, the crate alone takes 87 s to
//! compile in the release profile (and `crc-fast`, `aws-smithy-xml` more), against a cold `make test`
//! budget the suite is already close to; the pipeline needs two object calls. The endpoint is the
//! standard one of the configuration chain (`AWS_ENDPOINT_URL`, as every SDK client here honours),
//! else `https://s3.<region>.amazonaws.com`; buckets are addressed in the path, which S3 accepts for
//! every bucket whose name has no dot (ours: `bbws-promotion-evidence-<account-id>`).

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bbws_domain::ErrorName;

use crate::error::BbwsError;
use crate::Aws;

/// Attempts of one call, the first included (the AWS SDKs' standard retry mode).
pub const ATTEMPTS: u32 = 3;

/// The wait before attempt `attempt + 1`: 200 ms, then 400 ms.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.saturating_sub(1)))
}

/// `call` until it succeeds, fails for good, or has been made [`ATTEMPTS`] times.
async fn retried<T, F, Fut>(mut call: F) -> Result<T, BbwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BbwsError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.error_type == ErrorName::AwsUnavailable && attempt < ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// S3 in this account's region, with the account's credentials.
#[derive(Debug, Clone)]
pub struct Objects {
    config: SdkConfig,
    http: reqwest::Client,
    region: String,
    endpoint: String,
}

/// What a PutObject answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The object's version (`x-amz-version-id`), in a versioned bucket.
    pub version_id: Option<String>,
}

impl Objects {
    /// S3 of `aws`'s account and region.
    pub fn new(aws: &Aws) -> Objects {
        let region = aws
            .config
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| bbws_domain::env::PRIMARY_REGION.to_owned());
        let endpoint = aws
            .config
            .endpoint_url()
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(crate::clients::ATTEMPT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Objects {
            config: aws.config.clone(),
            http,
            region,
            endpoint,
        }
    }

    /// The object's URL (path-style, the key's segments percent-encoded).
    pub fn url(&self, bucket: &str, key: &str) -> String {
        format!("{}/{}/{}", self.endpoint, encode(bucket), encode(key))
    }

    /// Writes `body` at `bucket/key` (encrypted as the bucket's default encryption says); a
    /// transient failure is tried again, [`ATTEMPTS`] times in all, as the SDK's standard retry does.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<Stored, BbwsError> {
        retried(|| self.put_once(bucket, key, body.clone(), content_type)).await
    }

    async fn put_once(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<Stored, BbwsError> {
        let what = format!("s3:PutObject s3://{bucket}/{key}");
        let url = self.url(bucket, key);
        let headers = vec![("content-type".to_owned(), content_type.to_owned())];
        let signed = self
            .signed("s3", "PUT", &url, headers, &body, &what)
            .await?;
        let response = self
            .send(self.http.put(&url).body(body), signed, &what)
            .await?;
        let response = checked(response, &what).await?;
        let version_id = response
            .headers()
            .get("x-amz-version-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Stored { version_id })
    }

    /// The object at `bucket/key`; `None` when there is none (NoSuchKey); a transient failure is
    /// tried again as for [`Objects::put`].
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
        retried(|| self.get_once(bucket, key)).await
    }

    /// One version of the object at `bucket/key` (GetObject with `versionId`, which IAM grants as
    /// s3:GetObjectVersion); a version or key that does not exist is S3's refusal, a transient
    /// failure is tried again as for [`Objects::put`].
    pub async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Vec<u8>, BbwsError> {
        let what = format!("s3:GetObjectVersion s3://{bucket}/{key} version {version_id}");
        let url = format!("{}?versionId={}", self.url(bucket, key), encode(version_id));
        retried(|| async {
            let signed = self
                .signed("s3", "GET", &url, Vec::new(), &[], &what)
                .await?;
            let response = self.send(self.http.get(&url), signed, &what).await?;
            let response = checked(response, &what).await?;
            response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| BbwsError::transport(format!("{what}: reading the object"), e))
        })
        .await
    }

    async fn get_once(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
        let what = format!("s3:GetObject s3://{bucket}/{key}");
        let url = self.url(bucket, key);
        let signed = self
            .signed("s3", "GET", &url, Vec::new(), &[], &what)
            .await?;
        let response = self.send(self.http.get(&url), signed, &what).await?;
        if response.status().as_u16() == 404 {
            let text = response.text().await.unwrap_or_default();
            if element(&text, "Code").as_deref() == Some("NoSuchKey") {
                return Ok(None);
            }
            return Err(refusal(404, &text, &what));
        }
        let response = checked(response, &what).await?;
        response
            .bytes()
            .await
            .map(|b| Some(b.to_vec()))
            .map_err(|e| BbwsError::transport(format!("{what}: reading the object"), e))
    }

    /// The headers of a signed request (the given ones, the date, the payload's SHA-256, the
    /// session token and the authorization).
    pub(crate) async fn signed(
        &self,
        service: &str,
        method: &str,
        url: &str,
        mut headers: Vec<(String, String)>,
        body: &[u8],
        what: &str,
    ) -> Result<Vec<(String, String)>, BbwsError> {
        let provider = self
            .config
            .credentials_provider()
            .ok_or_else(|| BbwsError::config(format!("{what}: no credentials are configured")))?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            BbwsError::new(
                ErrorName::AwsUnavailable,
                format!("{what}: the function's credentials could not be loaded: {e}"),
            )
        })?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        if service == "s3" {
            // S3's rules: the payload's SHA-256 in x-amz-content-sha256, the path encoded once and as sent.
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| BbwsError::config(format!("{what}: cannot sign: {e}")))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| BbwsError::config(format!("{what}: cannot sign: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| BbwsError::config(format!("{what}: cannot sign: {e}")))?
            .into_parts();
        let (signing_headers, _) = instructions.into_parts();
        headers.extend(
            signing_headers
                .into_iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned())),
        );
        Ok(headers)
    }

    /// Sends a signed request; the answer whatever its status.
    pub(crate) async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        headers: Vec<(String, String)>,
        what: &str,
    ) -> Result<reqwest::Response, BbwsError> {
        let builder = headers
            .into_iter()
            .fold(builder, |b, (k, v)| b.header(k, v));
        builder
            .send()
            .await
            .map_err(|e| BbwsError::transport(what, e))
    }
}

impl Objects {
    /// The region requests are signed for.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The configured endpoint (`AWS_ENDPOINT_URL`), if any.
    pub(crate) fn configured_endpoint(&self) -> Option<String> {
        self.config
            .endpoint_url()
            .map(|e| e.trim_end_matches('/').to_owned())
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// `call` until it succeeds, fails for good, or has been made [`ATTEMPTS`] times (for the other
/// services signed here).
pub(crate) async fn with_retries<T, F, Fut>(call: F) -> Result<T, BbwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BbwsError>>,
{
    retried(call).await
}

/// A 2xx answer as it is; any other becomes S3's error ([`refusal`]).
async fn checked(response: reqwest::Response, what: &str) -> Result<reqwest::Response, BbwsError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    Err(refusal(status, &text, what))
}

/// S3's error code and message, named as [`crate::error::classify`] names an SDK error: 429, 5xx
/// and SlowDown transient, any other 4xx permanent.
fn refusal(status: u16, text: &str, what: &str) -> BbwsError {
    let code = element(text, "Code").unwrap_or_else(|| format!("HTTP {status}"));
    let message = element(text, "Message").unwrap_or_default();
    let name = if status == 429 || status >= 500 || code == "SlowDown" {
        ErrorName::AwsUnavailable
    } else {
        ErrorName::AwsRefused
    };
    let detail = if message.is_empty() {
        code
    } else {
        format!("{code}: {message}")
    };
    BbwsError::new(name, format!("{what}: {detail}"))
}

/// The text of the first `<name>` element of an S3 error document (XML-unescaped), if any.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let text = xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    Some(text.chars().take(300).collect())
}

/// A key or bucket name as a URI path: every byte but the unreserved ones and `/` percent-encoded.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_once_and_keep_their_slashes() {
        assert_eq!(
            encode("evidence/sit/tenant-instance-management/run 1:a+b/report.html"),
            "evidence/sit/tenant-instance-management/run%201%3Aa%2Bb/report.html"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn error_documents_give_their_code_and_message() {
        let xml =
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>User: a &amp; b \
                   is not authorized</Message><RequestId>x</RequestId></Error>";
        assert_eq!(element(xml, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            element(xml, "Message").as_deref(),
            Some("User: a & b is not authorized")
        );
        assert_eq!(element("<html>502</html>", "Code"), None);
    }

    #[tokio::test]
    async fn transient_failures_are_tried_again_permanent_ones_are_not() {
        let calls = std::cell::Cell::new(0);
        let flaky = retried(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(BbwsError::new(ErrorName::AwsUnavailable, "503"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(flaky, Ok(3));
        calls.set(0);
        let refused: Result<u32, _> = retried(|| {
            calls.set(calls.get() + 1);
            async { Err(BbwsError::new(ErrorName::AwsRefused, "403")) }
        })
        .await;
        assert_eq!((refused.is_err(), calls.get()), (true, 1));
        calls.set(0);
        let down: Result<u32, _> = retried(|| {
            calls.set(calls.get() + 1);
            async { Err(BbwsError::new(ErrorName::AwsUnavailable, "503")) }
        })
        .await;
        assert_eq!((down.is_err(), calls.get()), (true, ATTEMPTS));
    }

    #[test]
    fn refusals_tell_transient_from_permanent() {
        let denied = refusal(
            403,
            "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
            "put",
        );
        assert_eq!(denied.error_type, ErrorName::AwsRefused);
        assert_eq!(denied.message, "put: AccessDenied: no");
        assert_eq!(
            refusal(503, "<Error><Code>SlowDown</Code></Error>", "put").error_type,
            ErrorName::AwsUnavailable
        );
        assert_eq!(refusal(500, "", "get").message, "get: HTTP 500");
        assert_eq!(
            refusal(400, "<Error><Code>SlowDown</Code></Error>", "get").error_type,
            ErrorName::AwsUnavailable
        );
    }
}
