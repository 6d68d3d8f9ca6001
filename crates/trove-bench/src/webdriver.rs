//! A minimal W3C WebDriver client (plain HTTP/JSON through reqwest): just what the `app`
//! suite needs to unlock the real app through its UI with WebKitWebDriver.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver session; [`WebDriver::quit`] ends it (and closes the app).
pub struct WebDriver {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    session: String,
}

/// The element id in a WebDriver element reference.
pub fn element_id(value: &Value) -> Option<String> {
    value.get(ELEMENT_KEY)?.as_str().map(str::to_string)
}

/// The `(error, message)` of a WebDriver error response body, if it is one.
pub fn error_of(body: &Value) -> Option<(String, String)> {
    let v = body.get("value")?;
    let error = v.get("error")?.as_str()?.to_string();
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some((error, message))
}

impl WebDriver {
    /// Starts a session at `base` (e.g. `http://127.0.0.1:4444`) with `capabilities`
    /// (the `alwaysMatch` object).
    pub fn start(base: &str, capabilities: Value) -> anyhow::Result<WebDriver> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let mut wd = WebDriver {
            rt,
            http,
            base: base.trim_end_matches('/').to_string(),
            session: String::new(),
        };
        let body = json!({"capabilities": {"alwaysMatch": capabilities}});
        let v = wd.request(reqwest::Method::POST, "/session", Some(body))?;
        wd.session = v
            .get("sessionId")
            .and_then(Value::as_str)
            .context("new session: no sessionId in the answer")?
            .to_string();
        Ok(wd)
    }

    /// One request; returns the answer's `value`, or fails with the WebDriver error.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("{method} {path}"))?;
            let status = resp.status();
            let v: Value = resp
                .json()
                .await
                .with_context(|| format!("{method} {path}: not JSON"))?;
            if let Some((error, message)) = error_of(&v) {
                bail!("{method} {path}: {error}: {message}");
            }
            if !status.is_success() {
                bail!("{method} {path}: HTTP {status}");
            }
            Ok(v.get("value").cloned().unwrap_or(Value::Null))
        })
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// The first element matching the CSS `selector`, or `None`.
    pub fn find(&self, selector: &str) -> anyhow::Result<Option<String>> {
        let body = json!({"using": "css selector", "value": selector});
        match self.request(
            reqwest::Method::POST,
            &self.session_path("/element"),
            Some(body),
        ) {
            Ok(v) => Ok(element_id(&v)),
            Err(e) if e.to_string().contains("no such element") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Polls for `selector` until it exists (every 20 ms, at most `timeout`).
    pub fn wait_for(&self, selector: &str, timeout: Duration) -> anyhow::Result<String> {
        self.wait_until(timeout, &format!("{selector} to appear"), || {
            self.find(selector)
        })
        .map_err(|e| anyhow::anyhow!("{e} (page: {})", self.page_hint()))
    }

    /// The page's URL and the start of its text, for error messages.
    pub fn page_hint(&self) -> String {
        let script = "return location.href + ' | ' + (document.body ? document.body.innerText.slice(0, 200) : '(no body)');";
        match self.execute(script, json!([])) {
            Ok(v) => v.as_str().unwrap_or("").replace('\n', " "),
            Err(e) => format!("unreadable: {e}"),
        }
    }

    /// Polls `check` until it gives `Some` (every 20 ms, at most `timeout`).
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut() -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        loop {
            if let Some(v) = check()? {
                return Ok(v);
            }
            if start.elapsed() > timeout {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, element: &str, text: &str) -> anyhow::Result<()> {
        let path = self.session_path(&format!("/element/{element}/value"));
        self.request(reqwest::Method::POST, &path, Some(json!({"text": text})))?;
        Ok(())
    }

    /// Clicks the element.
    pub fn click(&self, element: &str) -> anyhow::Result<()> {
        let path = self.session_path(&format!("/element/{element}/click"));
        self.request(reqwest::Method::POST, &path, Some(json!({})))?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        let body = json!({"script": script, "args": args});
        self.request(
            reqwest::Method::POST,
            &self.session_path("/execute/sync"),
            Some(body),
        )
    }

    /// Runs `script` asynchronously: it ends by calling `arguments[arguments.length - 1]`.
    pub fn execute_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        let body = json!({"script": script, "args": args});
        self.request(
            reqwest::Method::POST,
            &self.session_path("/execute/async"),
            Some(body),
        )
    }

    /// Waits until two animation frames have passed: what is on the page is painted.
    pub fn two_frames(&self) -> anyhow::Result<()> {
        self.execute_async(
            "const done = arguments[arguments.length - 1];\
             requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            json!([]),
        )?;
        Ok(())
    }

    /// Ends the session (the driver closes the app).
    pub fn quit(self) -> anyhow::Result<()> {
        self.request(reqwest::Method::DELETE, &self.session_path(""), None)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_references_and_errors_are_read_from_the_wire_format() {
        let el = json!({ELEMENT_KEY: "node-42"});
        assert_eq!(element_id(&el).as_deref(), Some("node-42"));
        assert_eq!(element_id(&json!({"ELEMENT": "x"})), None);
        let err = json!({"value": {"error": "no such element", "message": "#x", "stacktrace": ""}});
        assert_eq!(
            error_of(&err),
            Some(("no such element".into(), "#x".into()))
        );
        assert_eq!(error_of(&json!({"value": null})), None);
        assert_eq!(error_of(&json!({"value": {"sessionId": "s"}})), None);
    }
}
