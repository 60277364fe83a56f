//! System mail (platform admins): whether the platform's own mail has a way out, what waits,
//! what failed and why.

use leptos::prelude::*;
use moat_openapi::{SystemMailList, SystemMailState, SystemMailStatus, wire_name};

use crate::components::{PagedList, detail};

#[component]
pub fn SystemMailPage() -> impl IntoView {
    let list = PagedList::<SystemMailList>::new("/system-mail");
    view! {
        <section class="panel">
            <h1>"System mail"</h1>
            {detail("/system-mail/state".to_string(), |state: SystemMailState, _| {
                let banner = if state.via == moat_openapi::SystemMailVia::Worker {
                    format!("Handed to the Moat workers, which deliver it. Waiting: {}. Failed: {}.", state.pending, state.failed)
                } else if state.delivery_configured {
                    format!("Sent through the SMTP relay. Waiting: {}. Failed: {}.", state.pending, state.failed)
                } else {
                    format!(
                        "No way out is configured (MOAT_SMTP_RELAY, or MOAT_SYSTEM_MAIL_VIA=worker): nothing is sent. {} message(s) wait.",
                        state.pending
                    )
                };
                let class = if state.delivery_configured && state.failed == 0 { "notice" } else { "notice warning" };
                view! { <p class=class role="status">{banner}</p> }
            })}
            {list.view("No system mail yet.", |l| view! {
                <table class="table">
                    <thead><tr>
                        <th scope="col">"To"</th><th scope="col">"Subject"</th><th scope="col">"State"</th>
                        <th scope="col">"Attempts"</th><th scope="col">"Last error"</th><th scope="col">"Created"</th>
                    </tr></thead>
                    <tbody>
                        {l.items.into_iter().map(|m| {
                            let state = match (m.status, m.sent_at) {
                                (SystemMailStatus::Sent, Some(at)) => format!("sent {}", at.format("%Y-%m-%d %H:%M")),
                                (SystemMailStatus::Pending, _) if m.attempts > 0 => "retrying".to_string(),
                                (status, _) => wire_name(&status),
                            };
                            view! {
                                <tr>
                                    <td>{m.recipient.clone()}</td>
                                    <td>{m.subject.clone()}</td>
                                    <td>{state}</td>
                                    <td>{m.attempts}</td>
                                    <td>{m.last_error.clone().unwrap_or_default()}</td>
                                    <td>{m.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any())}
        </section>
    }
}
