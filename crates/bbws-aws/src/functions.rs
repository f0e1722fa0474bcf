//! Operations on the BBWS service functions that a promotion moves: read, copy, publish, alias,
//! invoke. Each names the function (and region) in its errors.

use std::time::Duration;

use aws_sdk_lambda::operation::get_alias::GetAliasError;
use aws_sdk_lambda::operation::get_function::GetFunctionError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LastUpdateStatus;
use aws_sdk_lambda::Client;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BbwsError;
use bbws_domain::ErrorName;

pub use bbws_domain::FunctionVersion;

/// Reads `name:qualifier`; `None` when the function or qualifier does not exist.
pub async fn describe(
    client: &Client,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Option<(FunctionVersion, Option<String>)>, BbwsError> {
    let out = match client
        .get_function()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            if matches!(
                e.as_service_error(),
                Some(GetFunctionError::ResourceNotFoundException(_))
            ) {
                return Ok(None);
            }
            return Err(BbwsError::aws(format!("GetFunction {name}"), e));
        }
    };
    let cfg = out.configuration().ok_or_else(|| {
        BbwsError::new(
            ErrorName::AwsUnavailable,
            format!("GetFunction {name}: no configuration"),
        )
    })?;
    let location = out.code().and_then(|c| c.location()).map(str::to_owned);
    Ok(Some((
        FunctionVersion {
            name: name.to_owned(),
            version: cfg.version().unwrap_or("$LATEST").to_owned(),
            state: cfg
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "Unknown".into()),
            last_update_status: cfg
                .last_update_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "Unknown".into()),
            code_sha256: cfg.code_sha256().unwrap_or_default().to_owned(),
        },
        location,
    )))
}

/// The version an alias points at; `None` when the alias does not exist.
pub async fn alias_version(
    client: &Client,
    name: &str,
    alias: &str,
) -> Result<Option<String>, BbwsError> {
    match client
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(out) => Ok(out.function_version().map(str::to_owned)),
        Err(e) => {
            if matches!(
                e.as_service_error(),
                Some(GetAliasError::ResourceNotFoundException(_))
            ) {
                Ok(None)
            } else {
                Err(BbwsError::aws(format!("GetAlias {name}:{alias}"), e))
            }
        }
    }
}

/// Points `alias` at `version`, creating it when it does not exist.
pub async fn put_alias(
    client: &Client,
    name: &str,
    alias: &str,
    version: &str,
    description: &str,
) -> Result<(), BbwsError> {
    if alias_version(client, name, alias).await?.is_some() {
        client
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .description(description)
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("UpdateAlias {name}:{alias} -> {version}"), e))?;
    } else {
        client
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .description(description)
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("CreateAlias {name}:{alias} -> {version}"), e))?;
    }
    Ok(())
}

/// Every alias of a function: (name, version), all pages.
pub async fn list_aliases(client: &Client, name: &str) -> Result<Vec<(String, String)>, BbwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_aliases()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("ListAliases {name}"), e))?;
        for a in page.aliases() {
            if let (Some(n), Some(v)) = (a.name(), a.function_version()) {
                out.push((n.to_owned(), v.to_owned()));
            }
        }
        match page.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Every published version of a function (not `$LATEST`): (version, CodeSha256), all pages.
pub async fn list_versions(
    client: &Client,
    name: &str,
) -> Result<Vec<(String, String)>, BbwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("ListVersionsByFunction {name}"), e))?;
        for f in page.versions() {
            if let (Some(v), Some(sha)) = (f.version(), f.code_sha256()) {
                if v != "$LATEST" {
                    out.push((v.to_owned(), sha.to_owned()));
                }
            }
        }
        match page.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Base64 SHA-256 of a package, as Lambda reports CodeSha256.
pub fn code_sha256(package: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(package))
}

/// The HTTP client that downloads packages.
pub type HttpClient = reqwest::Client;

/// An HTTP client for package downloads (60 s timeout).
pub fn http_client() -> HttpClient {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// Downloads a package from GetFunction's Code.Location (a presigned URL).
pub async fn download(http: &HttpClient, location: &str, what: &str) -> Result<Vec<u8>, BbwsError> {
    let resp = http
        .get(location)
        .send()
        .await
        .map_err(|e| BbwsError::transport(format!("downloading the package of {what}"), e))?;
    if !resp.status().is_success() {
        return Err(BbwsError::new(
            ErrorName::AwsUnavailable,
            format!("downloading the package of {what}: HTTP {}", resp.status()),
        ));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| BbwsError::transport(format!("reading the package of {what}"), e))?;
    Ok(bytes.to_vec())
}

/// Uploads `package` as the function's code, publishes a version and waits until Lambda reports
/// the update Successful. Returns the new version and its CodeSha256.
pub async fn publish_code(
    client: &Client,
    name: &str,
    package: Vec<u8>,
    description: &str,
    wait: Duration,
) -> Result<FunctionVersion, BbwsError> {
    let out = client
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(package))
        .publish(true)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("UpdateFunctionCode {name}"), e))?;
    let mut version = out.version().unwrap_or("$LATEST").to_owned();
    if version == "$LATEST" {
        let published = client
            .publish_version()
            .function_name(name)
            .description(description)
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("PublishVersion {name}"), e))?;
        version = published.version().unwrap_or("$LATEST").to_owned();
    }
    wait_updated(client, name, &version, wait).await
}

/// Polls until the version's LastUpdateStatus is Successful (or Failed, or `wait` passes).
pub async fn wait_updated(
    client: &Client,
    name: &str,
    version: &str,
    wait: Duration,
) -> Result<FunctionVersion, BbwsError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let cfg = client
            .get_function_configuration()
            .function_name(name)
            .qualifier(version)
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("GetFunctionConfiguration {name}:{version}"), e))?;
        let status = cfg.last_update_status().cloned();
        let current = FunctionVersion {
            name: name.to_owned(),
            version: version.to_owned(),
            state: cfg
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            last_update_status: status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "Successful".into()),
            code_sha256: cfg.code_sha256().unwrap_or_default().to_owned(),
        };
        match status {
            None | Some(LastUpdateStatus::Successful) => return Ok(current),
            Some(LastUpdateStatus::Failed) => {
                return Err(BbwsError::new(
                    ErrorName::DeployFailed,
                    format!(
                        "{name}:{version}: Lambda reports the update Failed ({})",
                        cfg.last_update_status_reason().unwrap_or("no reason given")
                    ),
                ))
            }
            Some(_) if tokio::time::Instant::now() >= deadline => {
                return Err(BbwsError::new(
                    ErrorName::DeployFailed,
                    format!(
                        "{name}:{version}: update still in progress after {} s",
                        wait.as_secs()
                    ),
                ))
            }
            Some(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// What the unqualified function (`$LATEST`) needs so its code is a version's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatestCode {
    /// `$LATEST` already has that package (same CodeSha256): nothing to upload.
    AlreadyMatches,
    /// `$LATEST` has another package: the version's package is uploaded again.
    Restore,
}

/// Whether `$LATEST` (CodeSha256 `latest_sha`) needs the package of a version whose CodeSha256 is
/// `version_sha`.
pub fn latest_code(latest_sha: &str, version_sha: &str) -> LatestCode {
    if latest_sha == version_sha {
        LatestCode::AlreadyMatches
    } else {
        LatestCode::Restore
    }
}

/// What [`restore_latest`] did for one function in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestRestored {
    /// Function name.
    pub function: String,
    /// The version whose package `$LATEST` now has.
    pub version: String,
    /// Its CodeSha256 (and now `$LATEST`'s).
    pub code_sha256: String,
    /// `$LATEST`'s CodeSha256 before.
    pub previous_code_sha256: String,
    /// What was needed.
    pub action: LatestCode,
}

/// Makes the unqualified function's code (`$LATEST`) the package of `version`, so an invoke
/// without a qualifier answers as the version an alias was moved back to. The package is read
/// from the version itself (GetFunction's Code.Location), proven by its CodeSha256, uploaded
/// without publishing a version, and `$LATEST`'s CodeSha256 proven after the update. Nothing is
/// uploaded when `$LATEST` already has that package, so running it again changes nothing.
pub async fn restore_latest(
    client: &Client,
    http: &HttpClient,
    name: &str,
    version: &str,
    wait: Duration,
) -> Result<LatestRestored, BbwsError> {
    let missing = |what: &str| {
        BbwsError::new(
            ErrorName::AwsUnavailable,
            format!("GetFunction {name}:{what}: not found"),
        )
    };
    let (target, location) = describe(client, name, Some(version))
        .await?
        .ok_or_else(|| missing(version))?;
    let (latest, _) = describe(client, name, None)
        .await?
        .ok_or_else(|| missing("$LATEST"))?;
    let action = latest_code(&latest.code_sha256, &target.code_sha256);
    let done = LatestRestored {
        function: name.to_owned(),
        version: version.to_owned(),
        code_sha256: target.code_sha256.clone(),
        previous_code_sha256: latest.code_sha256.clone(),
        action,
    };
    if action == LatestCode::AlreadyMatches {
        return Ok(done);
    }
    let location = location.ok_or_else(|| {
        BbwsError::new(
            ErrorName::AwsUnavailable,
            format!("GetFunction {name}:{version}: no Code.Location"),
        )
    })?;
    let package = download(http, &location, &format!("{name}:{version}")).await?;
    let sha = code_sha256(&package);
    if sha != target.code_sha256 {
        return Err(BbwsError::new(
            ErrorName::AwsUnavailable,
            format!(
                "the package of {name}:{version} read back with CodeSha256 {sha}, not its {}",
                target.code_sha256
            ),
        ));
    }
    client
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(package))
        .publish(false)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("UpdateFunctionCode {name} ($LATEST)"), e))?;
    let now = wait_updated(client, name, "$LATEST", wait).await?;
    if now.code_sha256 != target.code_sha256 {
        return Err(BbwsError::new(
            ErrorName::AwsUnavailable,
            format!(
                "{name} $LATEST has CodeSha256 {} after the upload, not {}'s {}",
                now.code_sha256, version, target.code_sha256
            ),
        ));
    }
    Ok(done)
}

/// The answer of a service to one HTTP request (its `/health` route or a smoke test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `name:qualifier` invoked.
    pub target: String,
    /// The statusCode answered, 0 when the function failed, was throttled or answered something
    /// else.
    pub status: u16,
    /// The function error, the throttle, or the statusCode answered.
    pub detail: String,
}

/// RB-003's health request (§3.3).
pub const HEALTH_REQUEST: &str = r#"{"httpMethod":"GET","path":"/health","headers":{}}"#;

/// Invokes `name:qualifier` with RB-003's health request.
pub async fn health(client: &Client, name: &str, qualifier: &str) -> Result<Health, BbwsError> {
    http_request(client, name, qualifier, HEALTH_REQUEST.as_bytes().to_vec()).await
}

/// Invokes `name:qualifier` with an API Gateway request (`request`, JSON) and reads the
/// `statusCode` of the answer. A function error or a throttle (TooManyRequestsException: the
/// function's concurrency is used up) is an answer with status 0, not an error of the caller.
pub async fn http_request(
    client: &Client,
    name: &str,
    qualifier: &str,
    request: Vec<u8>,
) -> Result<Health, BbwsError> {
    let target = format!("{name}:{qualifier}");
    let out = match client
        .invoke()
        .function_name(name)
        .qualifier(qualifier)
        .payload(Blob::new(request))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            if matches!(
                e.as_service_error(),
                Some(InvokeError::TooManyRequestsException(_))
            ) {
                return Ok(Health {
                    target,
                    status: 0,
                    detail: "throttled (TooManyRequestsException): its concurrency is used up"
                        .into(),
                });
            }
            return Err(BbwsError::aws(format!("Invoke {target}"), e));
        }
    };
    let body = out
        .payload()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    let parsed: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if let Some(err) = out.function_error() {
        let msg = parsed
            .get("errorType")
            .and_then(|v| v.as_str())
            .unwrap_or(err)
            .to_owned();
        return Ok(Health {
            target,
            status: 0,
            detail: format!("function error {msg}"),
        });
    }
    let status = parsed
        .get("statusCode")
        .and_then(|v| v.as_u64())
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or(0);
    let detail = if status == 0 {
        "no statusCode in the answer".to_owned()
    } else {
        format!("statusCode {status}")
    };
    Ok(Health {
        target,
        status,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_uploaded_only_when_its_package_differs() {
        assert_eq!(latest_code("abc=", "abc="), LatestCode::AlreadyMatches);
        assert_eq!(latest_code("bad=", "good="), LatestCode::Restore);
        assert_eq!(
            serde_json::to_value(LatestCode::AlreadyMatches).ok(),
            Some(serde_json::json!("already_matches"))
        );
    }

    #[test]
    fn code_sha256_is_lambdas_base64_sha256() {
        assert_eq!(
            code_sha256(b"hello"),
            "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
    }
}
