//! Filtering policy as admins edit it: an organisation's (spam thresholds, attachments,
//! DMARC, back-scatter, greylisting, block-list action, quarantine and archive retention,
//! the hourly send limit of the Live Archive, secure release), and a domain's, where each
//! field it may set is either its own or inherited from the organisation.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{
    AttachmentAction, BlockAction, DmarcAction, OutboundContentPolicy, OutboundLimitAction, OutboundLimits, Policy,
    PolicyOverrides, from_wire_name, wire_name,
};
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

/// A domain's policy: the organisation's values, with the fields the domain sets itself.
#[component]
pub fn DomainPolicyPanel(domain_id: Uuid, org_id: Uuid) -> impl IntoView {
    let org = RwSignal::new(Load::<Policy>::Loading);
    let own = RwSignal::new(Load::<PolicyOverrides>::Loading);
    load_into(org, format!("/orgs/{org_id}/policy"));
    load_into(own, format!("/domains/{domain_id}/policy/overrides"));
    view! {
        <section class="panel" aria-labelledby="domain-policy-title">
            <h2 id="domain-policy-title">"Filtering policy of this domain"</h2>
            <p class="muted">"A field marked \"as the organisation\" follows the organisation's policy, also when it changes later."</p>
            {move || match (org.get(), own.get()) {
                (Load::Failed(e), _) | (_, Load::Failed(e)) => view! { <ErrorNote error=e/> }.into_any(),
                (Load::Ready(org), Load::Ready(own)) => {
                    let inherit = Inheritance::new(org.clone(), &own);
                    view! { <PolicyForm path=format!("/domains/{domain_id}/policy") policy=own.apply(&org) inherit/> }.into_any()
                }
                _ => view! { <Spinner/> }.into_any(),
            }}
        </section>
    }
}

/// At domain level: the organisation's policy, and per field whether the domain follows it.
#[derive(Clone, Copy)]
struct Inheritance {
    org: StoredValue<Policy>,
    inherited: [RwSignal<bool>; PolicyOverrides::FIELDS.len()],
}

impl Inheritance {
    fn new(org: Policy, own: &PolicyOverrides) -> Inheritance {
        let set = serde_json::to_value(own).unwrap_or_default();
        let inherited = PolicyOverrides::FIELDS.map(|f| RwSignal::new(set.get(f).is_none()));
        Inheritance { org: StoredValue::new(org), inherited }
    }

    fn of(&self, field: &str) -> RwSignal<bool> {
        let at = PolicyOverrides::FIELDS.iter().position(|f| *f == field).expect("a domain-level field");
        self.inherited[at]
    }

    /// What the domain sets: the form's values of the fields it does not inherit.
    fn overrides(&self, p: Policy) -> PolicyOverrides {
        let own = |field: &str| !self.of(field).get();
        PolicyOverrides {
            quarantine_threshold: own("quarantine_threshold").then_some(p.quarantine_threshold),
            reject_threshold: own("reject_threshold").then_some(p.reject_threshold),
            blocked_extensions: own("blocked_extensions").then_some(p.blocked_extensions),
            attachment_action: own("attachment_action").then_some(p.attachment_action),
            sniff_attachments: own("sniff_attachments").then_some(p.sniff_attachments),
            backscatter_protection: own("backscatter_protection").then_some(p.backscatter_protection),
            greylisting: own("greylisting").then_some(p.greylisting),
            dmarc_action: own("dmarc_action").then_some(p.dmarc_action),
            block_action: own("block_action").then_some(p.block_action),
            max_message_size_mb: own("max_message_size_mb").then_some(p.max_message_size_mb),
        }
    }
}

/// One policy field; at domain level with an "as the organisation" switch that, when on,
/// disables the field and shows the organisation's value again (`reset`).
#[component]
fn Inheritable(
    inherit: Option<Inheritance>,
    field: &'static str,
    #[prop(into)] reset: Callback<Policy>,
    children: Children,
) -> impl IntoView {
    let Some(inherit) = inherit else { return children().into_any() };
    let inherited = inherit.of(field);
    let switch = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        inherited.set(on);
        if on {
            reset.run(inherit.org.get_value());
        }
    };
    view! {
        <fieldset class="inherit" disabled=move || inherited.get() data-field=field>
            // Inside the first legend, so the switch stays usable while the fieldset is disabled.
            <legend>
                <label class="check inherit-switch">
                    <input type="checkbox" class="inherit-box" prop:checked=move || inherited.get() on:change=switch/>
                    " as the organisation"
                </label>
            </legend>
            {children()}
        </fieldset>
    }
    .into_any()
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
fn PolicyForm(path: String, policy: Policy, #[prop(optional)] inherit: Option<Inheritance>) -> impl IntoView {
    let domain_level = inherit.is_some();
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
    let outbound = OutboundFields::new(&policy.outbound);
    let max_size = RwSignal::new(policy.max_message_size_mb.to_string());
    let outbound_content = OutboundContentFields::new(&policy.outbound_content);
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
            let outbound = outbound.parse()?;
            let max_message_size_mb = whole("max_message_size_mb", max_size.get())?;
            let outbound_content = outbound_content.parse()?;
            Ok::<_, (&'static str, String)>(Policy {
                quarantine_threshold,
                reject_threshold,
                blocked_extensions: comma_list(&extensions.get()),
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
                outbound,
                max_message_size_mb,
                outbound_content,
            })
        })();
        let body = match parsed {
            Ok(body) => body,
            Err(e) => return local_error.set(Some(e)),
        };
        local_error.set(None);
        let body = match inherit {
            Some(inherit) => serde_json::to_value(inherit.overrides(body)),
            None => serde_json::to_value(body),
        }
        .unwrap_or_default();
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
        "max_message_size_mb",
    ];
    view! {
        <form on:submit=save novalidate>
            {move || general_error(&failure.get(), &fields.map(|f| format!("policy.{f}")).iter().map(String::as_str).collect::<Vec<_>>())
                .map(|e| view! { <ErrorNote error=e/> })}
            <Inheritable inherit field="quarantine_threshold" reset=move |p: Policy| quarantine_at.set(p.quarantine_threshold.to_string())>
                <Field id="p-quarantine" label="Quarantine at score" value=quarantine_at error=error_of("quarantine_threshold")/>
            </Inheritable>
            <Inheritable inherit field="reject_threshold" reset=move |p: Policy| reject_at.set(p.reject_threshold.to_string())>
                <Field id="p-reject" label="Reject at score" value=reject_at error=error_of("reject_threshold")/>
            </Inheritable>
            <Inheritable inherit field="blocked_extensions" reset=move |p: Policy| extensions.set(p.blocked_extensions.join(", "))>
                <Field id="p-extensions" label="Blocked attachment types" value=extensions error=error_of("blocked_extensions")
                    hint="File extensions, separated by commas"/>
            </Inheritable>
            <Inheritable inherit field="attachment_action" reset=move |p: Policy| attachment.set(wire_name(&p.attachment_action))>
                <Choice id="p-attachment" label="A blocked attachment" value=attachment options=vec![
                    (wire_name(&AttachmentAction::Quarantine), "holds the message in quarantine"),
                    (wire_name(&AttachmentAction::Reject), "gets the message refused")]/>
            </Inheritable>
            <Inheritable inherit field="sniff_attachments" reset=move |p: Policy| sniff.set(p.sniff_attachments)>
                <Check label="Judge attachments by their content too" value=sniff/>
            </Inheritable>
            <Inheritable inherit field="dmarc_action" reset=move |p: Policy| dmarc.set(wire_name(&p.dmarc_action))>
                <Choice id="p-dmarc" label="A DMARC failure" value=dmarc options=vec![
                    (wire_name(&DmarcAction::None), "only adds to the score"),
                    (wire_name(&DmarcAction::Quarantine), "holds the message at most"),
                    (wire_name(&DmarcAction::Reject), "follows the sender's policy, up to refusing")]/>
            </Inheritable>
            <Inheritable inherit field="block_action" reset=move |p: Policy| block.set(wire_name(&p.block_action))>
                <Choice id="p-block" label="Mail from block-listed senders" value=block options=vec![
                    (wire_name(&BlockAction::Reject), "is refused"),
                    (wire_name(&BlockAction::Drop), "is accepted and dropped")]/>
            </Inheritable>
            <Inheritable inherit field="backscatter_protection" reset=move |p: Policy| backscatter.set(p.backscatter_protection)>
                <Check label="Back-scatter protection" value=backscatter hint="refuse bounces for mail this organisation never sent"/>
            </Inheritable>
            <Inheritable inherit field="greylisting" reset=move |p: Policy| greylisting.set(p.greylisting)>
                <Check label="Greylisting" value=greylisting hint="unknown senders are asked to try again in a few minutes"/>
            </Inheritable>
            <Inheritable inherit field="max_message_size_mb" reset=move |p: Policy| max_size.set(p.max_message_size_mb.to_string())>
                <Field id="p-max-size" label="Largest message size (MiB)" value=max_size error=error_of("max_message_size_mb")
                    hint="0: the platform's limit; bigger mail is refused with 552"/>
            </Inheritable>
            <Show when=move || !domain_level fallback=|| view! {
                <p class="muted">"Retention, the Live Archive's send limit and secure release are set for the whole organisation."</p>
            }>
                <Field id="p-retention" label="Keep quarantined mail (days)" value=retention error=error_of("quarantine_retention_days")
                    hint="1 to 365"/>
                <Field id="p-archive-retention" label="Keep mail in the Live Archive (days)" value=archive_days
                    error=error_of("archive_retention_days") hint="1 to 365"/>
                <Field id="p-hourly" label="Messages a user may send from the Live Archive per hour" value=hourly
                    error=error_of("outbound_hourly_limit") hint="0: the platform's limit of 200"/>
                <Check label="Secure release" value=secure_release hint="digest links open the web app, where users sign in before releasing"/>
                <OutboundLimitFields fields=outbound error_of/>
                <OutboundContentFieldset fields=outbound_content error_of/>
            </Show>
            <button class="btn btn-primary" type="submit">"Save policy"</button>
            <Show when=move || saved.get()><span class="saved" role="status">"Policy saved"</span></Show>
        </form>
    }
}

/// The outbound content rules as the form edits them (text, parsed on save).
#[derive(Clone, Copy)]
struct OutboundContentFields {
    threshold: RwSignal<String>,
    extensions: RwSignal<String>,
    domains: RwSignal<String>,
}

/// A comma-separated list as typed, without blanks.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect()
}

impl OutboundContentFields {
    fn new(c: &OutboundContentPolicy) -> OutboundContentFields {
        OutboundContentFields {
            threshold: RwSignal::new(c.quarantine_threshold.to_string()),
            extensions: RwSignal::new(c.blocked_extensions.join(", ")),
            domains: RwSignal::new(c.blocked_recipient_domains.join(", ")),
        }
    }

    fn parse(&self) -> Result<OutboundContentPolicy, (&'static str, String)> {
        let field = "outbound_content.quarantine_threshold";
        let threshold =
            self.threshold.get().trim().parse::<f64>().map_err(|_| (field, "Enter a number".to_string()))?;
        Ok(OutboundContentPolicy {
            quarantine_threshold: threshold,
            blocked_extensions: comma_list(&self.extensions.get()),
            blocked_recipient_domains: comma_list(&self.domains.get()),
        })
    }
}

#[component]
fn OutboundContentFieldset<E>(fields: OutboundContentFields, error_of: E) -> impl IntoView
where
    E: Fn(&'static str) -> Signal<Option<String>> + Copy + 'static,
{
    let f = fields;
    view! {
        <fieldset class="group" id="outbound-content">
            <legend>"Outbound content (held mail waits in the outbound quarantine for an admin)"</legend>
            <Field id="oc-threshold" label="Hold outbound mail at spam score" value=f.threshold
                error=error_of("outbound_content.quarantine_threshold") hint="0: outbound mail is not scored"/>
            <Field id="oc-extensions" label="Outbound attachment types held" value=f.extensions
                error=error_of("outbound_content.blocked_extensions") hint="File extensions, separated by commas"/>
            <Field id="oc-domains" label="Never send to" value=f.domains
                error=error_of("outbound_content.blocked_recipient_domains")
                hint="Recipient domains (and their subdomains), separated by commas; refused with 550"/>
        </fieldset>
    }
}

/// The outbound limits as the form edits them (text, parsed on save).
#[derive(Clone, Copy)]
struct OutboundFields {
    user_hour: RwSignal<String>,
    user_day: RwSignal<String>,
    per_message: RwSignal<String>,
    user_recipients_day: RwSignal<String>,
    org_hour: RwSignal<String>,
    org_day: RwSignal<String>,
    action: RwSignal<String>,
}

impl OutboundFields {
    fn new(l: &OutboundLimits) -> OutboundFields {
        let text = |n: u32| RwSignal::new(n.to_string());
        OutboundFields {
            user_hour: text(l.user_messages_per_hour),
            user_day: text(l.user_messages_per_day),
            per_message: text(l.user_recipients_per_message),
            user_recipients_day: text(l.user_recipients_per_day),
            org_hour: text(l.org_messages_per_hour),
            org_day: text(l.org_messages_per_day),
            action: RwSignal::new(wire_name(&l.action)),
        }
    }

    fn parse(&self) -> Result<OutboundLimits, (&'static str, String)> {
        let whole = |field: &'static str, v: RwSignal<String>| {
            v.get().trim().parse::<u32>().map_err(|_| (field, "Enter a whole number (0: no limit)".to_string()))
        };
        Ok(OutboundLimits {
            user_messages_per_hour: whole("outbound.user_messages_per_hour", self.user_hour)?,
            user_messages_per_day: whole("outbound.user_messages_per_day", self.user_day)?,
            user_recipients_per_message: whole("outbound.user_recipients_per_message", self.per_message)?,
            user_recipients_per_day: whole("outbound.user_recipients_per_day", self.user_recipients_day)?,
            org_messages_per_hour: whole("outbound.org_messages_per_hour", self.org_hour)?,
            org_messages_per_day: whole("outbound.org_messages_per_day", self.org_day)?,
            action: from_wire_name(&self.action.get()).unwrap_or_default(),
        })
    }
}

#[component]
fn OutboundLimitFields<E>(fields: OutboundFields, error_of: E) -> impl IntoView
where
    E: Fn(&'static str) -> Signal<Option<String>> + Copy + 'static,
{
    let f = fields;
    view! {
        <fieldset class="group" id="outbound-limits">
            <legend>"Outbound limits (mail your server relays through Moat; 0: no limit)"</legend>
            <Field id="o-user-hour" label="Messages per sender per hour" value=f.user_hour error=error_of("outbound.user_messages_per_hour")/>
            <Field id="o-user-day" label="Messages per sender per day" value=f.user_day error=error_of("outbound.user_messages_per_day")/>
            <Field id="o-per-message" label="Recipients per message" value=f.per_message error=error_of("outbound.user_recipients_per_message")/>
            <Field id="o-rcpt-day" label="Recipients per sender per day" value=f.user_recipients_day error=error_of("outbound.user_recipients_per_day")/>
            <Field id="o-org-hour" label="Messages of the whole organisation per hour" value=f.org_hour error=error_of("outbound.org_messages_per_hour")/>
            <Field id="o-org-day" label="Messages of the whole organisation per day" value=f.org_day error=error_of("outbound.org_messages_per_day")/>
            <Choice id="o-action" label="A sender over a limit" value=f.action options=vec![
                (wire_name(&OutboundLimitAction::Defer), "is deferred (4xx) until the hour or day has room"),
                (wire_name(&OutboundLimitAction::Block), "is blocked until an admin clears the alert"),
                (wire_name(&OutboundLimitAction::AlertOnly), "may go on; admins are alerted")]/>
        </fieldset>
    }
}
