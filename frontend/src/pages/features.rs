//! Feature flags (platform admin): per capability, on, off or "as the wider setting" for the
//! platform, one MSP or one organisation.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{Feature, FeatureLevel, FeatureSetting, FeatureSettings, wire_name};
use uuid::Uuid;

use crate::api;
use crate::components::{ErrorNote, Load, Spinner, load_into};

fn feature_label(f: Feature) -> &'static str {
    match f {
        Feature::LiveArchive => "Live Archive",
        Feature::TestDelivery => "Test delivery",
        Feature::Statistics => "Statistics",
    }
}

#[component]
pub fn FeatureFlagsPanel(level: FeatureLevel, #[prop(optional)] scope_id: Option<Uuid>) -> impl IntoView {
    let settings = RwSignal::new(Load::<FeatureSettings>::Loading);
    load_into(settings, "/features".to_string());
    let failure = RwSignal::new(None::<api::ApiError>);
    let choose = move |feature: Feature, value: String| {
        let enabled = match value.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        };
        let body = FeatureSetting { feature, level, scope_id, enabled };
        spawn_local(async move {
            match api::put::<_, FeatureSettings>("/features", &body).await {
                Ok(s) => {
                    failure.set(None);
                    settings.set(Load::Ready(s));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let wider = if level == FeatureLevel::Platform { "on (the default)" } else { "as the wider setting" };
    view! {
        <section class="panel" id="feature-flags">
            <h2>"Feature flags"</h2>
            {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            {move || match settings.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(s) => Feature::ALL.into_iter().map(|f| {
                    let current = s.items.iter()
                        .find(|x| x.feature == f && x.level == level && x.scope_id == scope_id)
                        .and_then(|x| x.enabled)
                        .map(|on| if on { "on" } else { "off" })
                        .unwrap_or("inherit");
                    let id = format!("flag-{}", wire_name(&f));
                    view! {
                        <div class="field">
                            <label for=id.clone()>{feature_label(f)}</label>
                            <select id=id on:change=move |ev| choose(f, event_target_value(&ev))>
                                <option value="inherit" selected=current == "inherit">{wider}</option>
                                <option value="on" selected=current == "on">"on"</option>
                                <option value="off" selected=current == "off">"off"</option>
                            </select>
                        </div>
                    }
                }).collect_view().into_any(),
            }}
        </section>
    }
}
