//! An organisation's filtering policy, as its admins edit it: spam thresholds, attachments,
//! DMARC, back-scatter, greylisting, block-list action, quarantine and archive retention,
//! the hourly send limit of the Live Archive, and secure release.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{AttachmentAction, BlockAction, DmarcAction, Policy, from_wire_name, wire_name};
use uuid::Uuid;

use crate::api;
use crate::components::{Check, ErrorNote, Field, Load, Spinner, field_error, general_error, load_into};

#[component]
pub fn OrgPolicyPanel(org_id: Uuid) -> impl IntoView {
    let loaded = RwSignal::new(Load::<Policy>::Loading);
    load_into(loaded, format!("/orgs/{org_id}/policy"));
    view! {
        <section class="panel" aria-labelledby="policy-title">
            <h2 id="policy-title">"Filtering policy"</h2>
            {move || match loaded.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(policy) => view! { <PolicyForm path=format!("/orgs/{org_id}/policy") policy/> }.into_any(),
            }}
        </section>
    }
}

/// A labelled `<select>` over an enum's cases, bound to its wire name.
#[component]
fn Choice(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    options: Vec<(String, &'static str)>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select id=id on:change=move |ev| value.set(event_target_value(&ev)) prop:value=move || value.get()>
                {options.into_iter().map(|(wire, text)| {
                    let selected = wire.clone();
                    view! { <option value=wire selected=move || value.get() == selected>{text}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

#[component]
fn PolicyForm(path: String, policy: Policy) -> impl IntoView {
    let quarantine_at = RwSignal::new(policy.quarantine_threshold.to_string());
    let reject_at = RwSignal::new(policy.reject_threshold.to_string());
    let extensions = RwSignal::new(policy.blocked_extensions.join(", "));
    let attachment = RwSignal::new(wire_name(&policy.attachment_action));
    let sniff = RwSignal::new(policy.sniff_attachments);
    let backscatter = RwSignal::new(policy.backscatter_protection);
    let greylisting = RwSignal::new(policy.greylisting);
    let dmarc = RwSignal::new(wire_name(&policy.dmarc_action));
    let block = RwSignal::new(wire_name(&policy.block_action));
    let retention = RwSignal::new(policy.quarantine_retention_days.to_string());
    let archive_days = RwSignal::new(policy.archive_retention_days.to_string());
    let hourly = RwSignal::new(policy.outbound_hourly_limit.to_string());
    let secure_release = RwSignal::new(policy.secure_release);
    let failure = RwSignal::new(None::<api::ApiError>);
    let local_error = RwSignal::new(None::<(&'static str, String)>);
    let saved = RwSignal::new(false);
    let path = StoredValue::new(path);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let number = |field: &'static str, text: String| -> Result<f64, (&'static str, String)> {
            text.trim().parse::<f64>().map_err(|_| (field, "Enter a number".to_string()))
        };
        let parsed = (|| {
            let quarantine_threshold = number("quarantine_threshold", quarantine_at.get())?;
            let reject_threshold = number("reject_threshold", reject_at.get())?;
            let days = retention
                .get()
                .trim()
                .parse::<u32>()
                .map_err(|_| ("quarantine_retention_days", "Enter whole days".to_string()))?;
            let whole = |field: &'static str, text: String| {
                text.trim().parse::<u32>().map_err(|_| (field, "Enter a whole number".to_string()))
            };
            let archive_retention_days = whole("archive_retention_days", archive_days.get())?;
            let outbound_hourly_limit = whole("outbound_hourly_limit", hourly.get())?;
            Ok::<_, (&'static str, String)>(Policy {
                quarantine_threshold,
                reject_threshold,
                blocked_extensions: extensions
                    .get()
                    .split(',')
                    .map(|e| e.trim().to_string())
                    .filter(|e| !e.is_empty())
                    .collect(),
                attachment_action: from_wire_name(&attachment.get()).unwrap_or_default(),
                sniff_attachments: sniff.get(),
                backscatter_protection: backscatter.get(),
                greylisting: greylisting.get(),
                dmarc_action: from_wire_name(&dmarc.get()).unwrap_or_default(),
                block_action: from_wire_name(&block.get()).unwrap_or_default(),
                quarantine_retention_days: days,
                archive_retention_days,
                outbound_hourly_limit,
                secure_release: secure_release.get(),
            })
        })();
        let body = match parsed {
            Ok(body) => body,
            Err(e) => return local_error.set(Some(e)),
        };
        local_error.set(None);
        spawn_local(async move {
            match api::put::<_, Policy>(&path.get_value(), &body).await {
                Ok(_) => {
                    failure.set(None);
                    saved.set(true);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let error_of = move |field: &'static str| {
        Signal::derive(move || {
            local_error
                .get()
                .filter(|(f, _)| *f == field)
                .map(|(_, m)| m)
                .or_else(|| field_error(&failure.get(), &format!("policy.{field}")))
        })
    };
    let fields = [
        "quarantine_threshold",
        "reject_threshold",
        "blocked_extensions",
        "quarantine_retention_days",
        "archive_retention_days",
        "outbound_hourly_limit",
    ];
    view! {
        <form on:submit=save novalidate>
            {move || general_error(&failure.get(), &fields.map(|f| format!("policy.{f}")).iter().map(String::as_str).collect::<Vec<_>>())
                .map(|e| view! { <ErrorNote error=e/> })}
            <Field id="p-quarantine" label="Quarantine at score" value=quarantine_at error=error_of("quarantine_threshold")/>
            <Field id="p-reject" label="Reject at score" value=reject_at error=error_of("reject_threshold")/>
            <Field id="p-extensions" label="Blocked attachment types" value=extensions error=error_of("blocked_extensions")
                hint="File extensions, separated by commas"/>
            <Choice id="p-attachment" label="A blocked attachment" value=attachment options=vec![
                (wire_name(&AttachmentAction::Quarantine), "holds the message in quarantine"),
                (wire_name(&AttachmentAction::Reject), "gets the message refused")]/>
            <Check label="Judge attachments by their content too" value=sniff/>
            <Choice id="p-dmarc" label="A DMARC failure" value=dmarc options=vec![
                (wire_name(&DmarcAction::None), "only adds to the score"),
                (wire_name(&DmarcAction::Quarantine), "holds the message at most"),
                (wire_name(&DmarcAction::Reject), "follows the sender's policy, up to refusing")]/>
            <Choice id="p-block" label="Mail from block-listed senders" value=block options=vec![
                (wire_name(&BlockAction::Reject), "is refused"),
                (wire_name(&BlockAction::Drop), "is accepted and dropped")]/>
            <Check label="Back-scatter protection" value=backscatter hint="refuse bounces for mail this organisation never sent"/>
            <Check label="Greylisting" value=greylisting hint="unknown senders are asked to try again in a few minutes"/>
            <Field id="p-retention" label="Keep quarantined mail (days)" value=retention error=error_of("quarantine_retention_days")
                hint="1 to 365"/>
            <Field id="p-archive-retention" label="Keep mail in the Live Archive (days)" value=archive_days
                error=error_of("archive_retention_days") hint="1 to 365"/>
            <Field id="p-hourly" label="Messages a user may send from the Live Archive per hour" value=hourly
                error=error_of("outbound_hourly_limit") hint="0: the platform's limit of 200"/>
            <Check label="Secure release" value=secure_release hint="digest links open the web app, where users sign in before releasing"/>
            <button class="btn btn-primary" type="submit">"Save policy"</button>
            <Show when=move || saved.get()><span class="saved" role="status">"Policy saved"</span></Show>
        </form>
    }
}
