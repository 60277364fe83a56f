//! One domain: where its mail goes, TLS, switches, maintenance banner.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use moat_openapi::{Domain, TlsMode, UpdateDomain};

use crate::api;
use crate::components::{DeleteButton, ErrorNote, Field, detail, field_error, general_error};
use crate::validate;

#[component]
pub fn DomainPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    detail(format!("/domains/{id}"), |domain: Domain, _| {
        let panel = domain.clone();
        let (domain_id, org_id) = (domain.id, domain.org_id);
        view! {
            <DomainForm domain/>
            <super::policy::DomainPolicyPanel domain_id org_id/>
            <super::lists::ListsPanel level=moat_openapi::ListLevel::Domain scope_id=domain_id title="Allow and block list of this domain"/>
            <super::continuity::DeliveryPanel domain=panel/>
            {crate::session::use_session()
                .me()
                .filter(|me| me.features.contains(&moat_openapi::Feature::TestDelivery))
                .map(|_| view! { <super::diagnostics::TestDeliveryPanel domain_id/> })}
        }
    })
}

/// A link to the statistics page narrowed to one domain or mailbox, when statistics are on.
pub fn statistics_link(href: String, text: &'static str) -> Option<impl IntoView> {
    crate::session::use_session()
        .me()
        .filter(|me| {
            me.features.contains(&moat_openapi::Feature::Statistics) && me.role >= moat_openapi::Role::OrgAdmin
        })
        .map(|_| view! { <p><A href=href>{text}</A></p> })
}

#[component]
fn DomainForm(domain: Domain) -> impl IntoView {
    let navigate = use_navigate();
    let (id, org_id) = (domain.id, domain.org_id);
    let host = RwSignal::new(domain.destination_host.clone());
    let port = RwSignal::new(domain.destination_port.to_string());
    let tls = RwSignal::new(moat_openapi::wire_name(&domain.tls_mode));
    let inbound = RwSignal::new(domain.inbound_enabled);
    let outbound = RwSignal::new(domain.outbound_enabled);
    let banner = RwSignal::new(domain.maintenance_banner.clone().unwrap_or_default());
    let (host_err, port_err) = (RwSignal::new(None::<String>), RwSignal::new(None::<String>));
    let failure = RwSignal::new(None::<api::ApiError>);
    let saved = RwSignal::new(false);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        host_err.set(validate::host(&host.get()).err());
        let p = validate::port(&port.get());
        port_err.set(p.clone().err());
        let (Ok(p), None) = (p, host_err.get()) else { return };
        let text = banner.get().trim().to_string();
        let body = UpdateDomain {
            destination_host: Some(host.get().trim().to_string()),
            destination_port: Some(p),
            tls_mode: moat_openapi::from_wire_name::<TlsMode>(&tls.get()),
            inbound_enabled: Some(inbound.get()),
            outbound_enabled: Some(outbound.get()),
            maintenance_banner: Some((!text.is_empty()).then_some(text)),
            queue_expiry_days: None,
        };
        spawn_local(async move {
            match api::patch::<_, Domain>(&format!("/domains/{id}"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    saved.set(true);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let delete = Callback::new(move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::delete(&format!("/domains/{id}")).await {
                Ok(()) => navigate(&format!("/orgs/{org_id}"), Default::default()),
                Err(e) => failure.set(Some(e)),
            }
        });
    });
    let fields = ["destination_host", "destination_port", "maintenance_banner"];
    view! {
        <section class="panel">
            <p class="crumbs"><A href=format!("/orgs/{org_id}")>"Organisation"</A></p>
            <h1>{domain.name.clone()}</h1>
            {statistics_link(format!("/stats?domain_id={}", domain.id), "Statistics of this domain")}
            <form on:submit=save novalidate>
                {move || general_error(&failure.get(), &fields).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="d-host" label="Mail server" value=host
                    error=Signal::derive(move || host_err.get().or_else(|| field_error(&failure.get(), "destination_host")))/>
                <Field id="d-port" label="Port" value=port kind="number"
                    error=Signal::derive(move || port_err.get().or_else(|| field_error(&failure.get(), "destination_port")))/>
                <div class="field">
                    <label for="d-tls">"TLS to the mail server"</label>
                    <select id="d-tls" on:change=move |ev| tls.set(event_target_value(&ev)) prop:value=move || tls.get()>
                        <option value="opportunistic" selected=move || tls.get() == "opportunistic">"When offered (opportunistic)"</option>
                        <option value="required" selected=move || tls.get() == "required">"Required"</option>
                        <option value="none" selected=move || tls.get() == "none">"Never"</option>
                    </select>
                </div>
                <div class="field checkbox">
                    <input id="d-in" type="checkbox" prop:checked=move || inbound.get() on:change=move |ev| inbound.set(event_target_checked(&ev))/>
                    <label for="d-in">"Accept inbound mail"</label>
                </div>
                <div class="field checkbox">
                    <input id="d-out" type="checkbox" prop:checked=move || outbound.get() on:change=move |ev| outbound.set(event_target_checked(&ev))/>
                    <label for="d-out">"Relay outbound mail"</label>
                </div>
                <Field id="d-banner" label="Maintenance banner" value=banner hint="Shown to this domain's users while set"
                    error=Signal::derive(move || field_error(&failure.get(), "maintenance_banner"))/>
                <button class="btn btn-primary" type="submit">"Save"</button>
                <Show when=move || saved.get()><span class="saved" role="status">"Saved"</span></Show>
            </form>
            <DeleteButton label="Delete domain" on_confirm=delete/>
        </section>
    }
}
