//! What the user sees: human lines on stderr (colour unless NO_COLOR), JSON lines on stdout, the
//! device prompt with an optional QR code, and a spinner with the time left on a terminal only

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use keyhole_core::Prompt;
use serde_json::{Value, json};

use crate::io::{Frontend, open_url};
use crate::text::terminal_safe as safe;

/// How output is written
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// JSON lines on stdout instead of human text
    pub json: bool,
    /// ANSI colours on stderr
    pub color: bool,
    /// stderr is a terminal (spinners)
    pub stderr_tty: bool,
}

impl Out {
    /// Decides colours and spinners from the environment
    pub fn detect(json: bool) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            json,
            color: stderr_tty && !no_color,
            stderr_tty,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// One JSON object on one stdout line, flushed at once (readers act on each line); a
    /// server's `JsonText` in it is written as it is (make it one line first: `account::one_line`)
    pub fn json_line(&self, value: &(impl serde::Serialize + ?Sized)) {
        let line = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// A line of the command's result on stdout (human mode)
    pub fn result(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    /// The outcome of a command: `value` as a JSON line, or `✓ human` on stderr
    pub fn report(&self, value: &Value, human: &str) {
        if self.json {
            self.json_line(value);
        } else {
            self.success(human);
        }
    }

    /// `✓ text` on stderr (human mode only)
    pub fn success(&self, text: &str) {
        self.success_with("✓", text);
    }

    /// `mark text` on stderr, the mark in green (human mode only)
    pub fn success_with(&self, mark: &str, text: &str) {
        if !self.json {
            eprintln!("{} {text}", self.paint("32", mark));
        }
    }

    /// `! text` on stderr, in both modes (warnings never go to stdout); one line, made safe
    /// because warnings carry what a provider or a store said
    pub fn warn(&self, text: &str) {
        eprintln!("{} {}", self.paint("33", "!"), safe(text));
    }

    /// Plain information on stderr (human mode only)
    pub fn info(&self, text: &str) {
        if !self.json {
            eprintln!("{text}");
        }
    }

    /// An error: a JSON line on stdout (with `details` as extra fields), or `error: …` on stderr
    pub fn error(&self, code: &str, message: &str, details: serde_json::Map<String, Value>) {
        if self.json {
            let mut line = json!({"event": "error", "ok": false, "code": code, "message": message});
            if let Value::Object(fields) = &mut line {
                fields.extend(details);
            }
            self.json_line(&line);
        } else {
            // One line, made safe: errors carry what a provider or a file said.
            eprintln!("{} {}", self.paint("31", "error:"), safe(message));
        }
    }

    /// Bold text for the human output; bold is for names and codes from outside, so it is made
    /// safe first
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", &safe(text))
    }
}

/// Minutes and seconds: `4:05`
pub fn mm_ss(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

/// A rough length of time for people: `45 s`, `12 min`, `3 h 5 min`, `2 days`
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match s / 86_400 {
            1 => "1 day".into(),
            d => format!("{d} days"),
        },
    }
}

/// The CLI's [`Frontend`]: prompt, browser, spinner
#[derive(Debug)]
pub struct CliFrontend {
    out: Out,
    no_open: bool,
    qr: bool,
    what: &'static str,
    prompt_expires_at_ms: Option<u64>,
    frame: usize,
    drawn: bool,
    browser_failed: Arc<AtomicBool>,
    prompt_template: Option<&'static str>,
}

impl CliFrontend {
    /// Prints the device prompt from this template (`{code}`, `{url}`, `{url_complete}`)
    pub fn with_prompt_template(mut self, template: Option<&'static str>) -> Self {
        self.prompt_template = template;
        self
    }

    /// A frontend; `what` is the spinner's text ("Waiting for approval")
    pub fn new(out: Out, no_open: bool, qr: bool, what: &'static str) -> Self {
        Self {
            out,
            no_open,
            qr,
            what,
            prompt_expires_at_ms: None,
            frame: 0,
            drawn: false,
            browser_failed: Arc::new(AtomicBool::new(false)),
            prompt_template: None,
        }
    }

    /// Becomes true when a browser was tried and could not be opened (readable after the
    /// frontend was handed to an engine)
    pub fn browser_failed(&self) -> Arc<AtomicBool> {
        self.browser_failed.clone()
    }

    fn spinner_on(&self) -> bool {
        self.out.stderr_tty && !self.out.json
    }
}

/// A QR code of `text` in Unicode half blocks, or `None` if it does not fit in one
pub fn qr_text(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

impl Frontend for CliFrontend {
    fn show_prompt(&mut self, prompt: &Prompt) {
        self.prompt_expires_at_ms = Some(prompt.expires_at_ms);
        let url = prompt
            .verification_uri_complete
            .clone()
            .unwrap_or_else(|| prompt.verification_uri.clone());
        if self.out.json {
            self.out.json_line(&json!({
                "event": "prompt",
                "user_code": prompt.user_code,
                "verification_uri": prompt.verification_uri,
                "verification_uri_complete": prompt.verification_uri_complete,
                "expires_in": prompt.expires_in_s,
            }));
        } else if let Some(template) = self.prompt_template {
            eprintln!(
                "{}",
                crate::product::fill(
                    template,
                    &[
                        ("code", &safe(&prompt.user_code)),
                        ("url", &safe(prompt.verification_uri.as_str())),
                        ("url_complete", &safe(url.as_str())),
                    ],
                )
            );
        } else {
            eprintln!(
                "{} First copy your one-time code: {}",
                self.out.paint("33", "!"),
                self.out.bold(&prompt.user_code)
            );
            eprintln!(
                "  Then open {} and enter it.",
                safe(prompt.verification_uri.as_str())
            );
            if let Some(complete) = &prompt.verification_uri_complete {
                eprintln!(
                    "  (or open {} with the code filled in)",
                    safe(complete.as_str())
                );
            }
        }
        if self.qr
            && let Some(qr) = qr_text(url.as_str())
        {
            eprintln!("{qr}");
        }
        if !self.no_open && self.prompt_template.is_some() {
            // The vendor's prompt says what happens; a failure needs no second line.
            let _ = open_url(url.as_str());
        } else if !self.no_open {
            if open_url(url.as_str()) {
                self.out.info("  Opened the page in your browser.");
            } else {
                self.out
                    .info("  Could not open a browser; open the page above yourself.");
            }
        }
    }

    /// With `--no-open` the URL is printed for the user and counts as delivered (`true`); a
    /// browser that fails to start gives `false`, and the caller falls back to the device login
    fn open_browser(&mut self, url: &url::Url) -> bool {
        if self.no_open {
            if self.out.json {
                self.out
                    .json_line(&json!({"event": "open_browser", "url": url}));
            } else {
                eprintln!(
                    "Open this URL in your browser to log in:\n  {}",
                    safe(url.as_str())
                );
            }
            return true;
        }
        if open_url(url.as_str()) {
            self.out.info("Opened the login page in your browser.");
            true
        } else {
            self.browser_failed.store(true, Ordering::SeqCst);
            false
        }
    }

    fn tick(&mut self, now_ms: u64, until_ms: u64) {
        if !self.spinner_on() {
            return;
        }
        const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
        let deadline = self.prompt_expires_at_ms.unwrap_or(until_ms);
        let left = deadline.saturating_sub(now_ms);
        self.frame = (self.frame + 1) % FRAMES.len();
        eprint!(
            "\r\x1b[2K{} {}… {} left",
            FRAMES[self.frame],
            self.what,
            mm_ss(left)
        );
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }

    fn done_waiting(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }
}

/// Whether a browser can plausibly be opened here (used to fall back to the device login)
pub fn browser_available() -> bool {
    if let Ok(browser) = std::env::var("BROWSER") {
        return browser
            .split(':')
            .filter_map(|cmd| cmd.split_whitespace().next())
            .any(program_exists);
    }
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    let wsl = std::env::var_os("WSL_DISTRO_NAME").is_some();
    let display = std::env::var_os("DISPLAY").is_some_and(|v| !v.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty());
    (wsl && program_exists("wslview")) || (display && program_exists("xdg-open"))
}

/// Whether `program` is a path to a file or found on `PATH`
fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Asks for one of `items` on the terminal (stderr) with the arrow keys, `default` highlighted
/// first; `None` when the user presses Esc or q
pub fn select(question: &str, items: &[&str], default: usize) -> Result<Option<usize>, String> {
    dialoguer::Select::with_theme(&MenuTheme)
        .with_prompt(question)
        .items(items)
        .default(default.min(items.len().saturating_sub(1)))
        .interact_on_opt(&dialoguer::console::Term::stderr())
        .map_err(|e| e.to_string())
}

/// The menus' look: the question as the product wrote it (truss's `? How would you like
/// to authenticate?`), then the choices with `>` on the highlighted one; after the answer, the
/// question and the choice on one line
pub struct MenuTheme;

impl dialoguer::theme::Theme for MenuTheme {
    fn format_select_prompt(&self, f: &mut dyn std::fmt::Write, prompt: &str) -> std::fmt::Result {
        f.write_str(prompt)
    }

    fn format_select_prompt_selection(
        &self,
        f: &mut dyn std::fmt::Write,
        prompt: &str,
        selection: &str,
    ) -> std::fmt::Result {
        write!(f, "{prompt} {selection}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_and_qr() {
        assert_eq!(mm_ss(0), "0:00");
        assert_eq!(mm_ss(245_001), "4:06");
        assert_eq!(human_duration(59_999), "59 s");
        assert_eq!(human_duration(3_599_000), "59 min");
        assert_eq!(human_duration(3_600_000), "1 h");
        assert_eq!(human_duration(3_900_000), "1 h 5 min");
        assert_eq!(human_duration(3 * 86_400_000), "3 days");
        let qr = qr_text("https://id.example.com/device?user_code=ABCD-EFGH").unwrap();
        assert!(qr.lines().count() > 10);
        assert!(program_exists("sh"));
        assert!(!program_exists("/nonexistent/browser"));
    }
}
