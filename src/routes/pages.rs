//! Server-rendered pages: one layout, escaped text, no scripts.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps already-escaped `body` HTML in the layout.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; line-height: 1.5; }}
main.box, form.box, dl.box {{ max-width: 40rem; }}
table {{ border-collapse: collapse; width: 100%; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e4e7eb; vertical-align: top; }}
td code {{ font-size: .8rem; word-break: break-all; }}
td form {{ display: flex; gap: .5rem; margin: 0; }}
td form input {{ width: auto; flex: 1; }}
nav form {{ display: inline; }}
h1 {{ font-size: 1.5rem; }}
.box {{ border: 1px solid #d2d6dc; border-radius: 8px; padding: 1rem 1.5rem; }}
a.button, button {{ display: inline-block; background: #2563eb; color: #fff; border: 0; border-radius: 6px; padding: .5rem 1rem; text-decoration: none; font-size: 1rem; cursor: pointer; }}
label {{ display: block; margin: .75rem 0 .25rem; }}
input {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
dt {{ font-weight: 600; }}
.muted {{ color: #616e7c; font-size: .9rem; }}
</style>
</head>
<body>
{body}
</body>
</html>
"#,
        title = escape(title),
    )
}

pub fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(layout(title, body))
}

pub fn error_page(
    status: StatusCode,
    title: &str,
    text: &str,
    retry: Option<&str>,
) -> HttpResponse {
    match retry {
        Some(href) => error_page_with_link(status, title, text, href, "Start signing in again"),
        None => error_page_with_link(status, title, text, "", ""),
    }
}

/// An error page with one button (none when `label` is empty).
pub fn error_page_with_link(
    status: StatusCode,
    title: &str,
    text: &str,
    href: &str,
    label: &str,
) -> HttpResponse {
    let retry = if label.is_empty() {
        String::new()
    } else {
        format!(
            r#"<p><a class="button" href="{}">{}</a></p>"#,
            escape(href),
            escape(label)
        )
    };
    let body = format!(
        r#"<main class="box" role="alert"><h1>{}</h1><p>{}</p>{retry}</main>"#,
        escape(title),
        escape(text)
    );
    html(status, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
