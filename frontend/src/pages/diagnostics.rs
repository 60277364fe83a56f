//! Test delivery on a domain's page: a worker talks to the domain's mail server stage by
//! stage (and, when asked, sends a test message through Moat's filtering and queue to a
//! mailbox of the domain); the timeline shows each stage's answer and time.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{ProbeStage, StageResult, TestDelivery, TestDeliveryRequest, TestDeliveryStatus};
use uuid::Uuid;

use crate::api;
use crate::components::{ErrorNote, Field};

/// How often a pending test is looked at again.
const POLL_EVERY: Duration = Duration::from_secs(1);

fn stage_label(stage: ProbeStage) -> &'static str {
    match stage {
        ProbeStage::Mx => "MX records",
        ProbeStage::Dns => "DNS",
        ProbeStage::Connect => "Connect",
        ProbeStage::Banner => "Banner",
        ProbeStage::Ehlo => "EHLO",
        ProbeStage::Starttls => "STARTTLS",
        ProbeStage::Rcpt => "Recipient probe",
        ProbeStage::Data => "Test message through Moat",
        ProbeStage::Delivery => "Test message delivered",
    }
}

#[component]
pub fn TestDeliveryPanel(domain_id: Uuid) -> impl IntoView {
    let send_test = RwSignal::new(false);
    let test_recipient = RwSignal::new(String::new());
    let current = RwSignal::new(None::<TestDelivery>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let poll = move || {
        let Some(test) = current.get_untracked().filter(|t| t.status == TestDeliveryStatus::Pending) else { return };
        spawn_local(async move {
            match api::get::<TestDelivery>(&format!("/diagnostics/test-delivery/{}", test.id)).await {
                Ok(t) => current.set(Some(t)),
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    if let Ok(handle) = set_interval_with_handle(poll, POLL_EVERY) {
        on_cleanup(move || handle.clear());
    }
    let run = move |_| {
        let to = test_recipient.get().trim().to_string();
        let body = TestDeliveryRequest {
            domain_id,
            send_test: send_test.get(),
            test_recipient: (send_test.get() && !to.is_empty()).then_some(to),
        };
        spawn_local(async move {
            match api::post::<_, TestDelivery>("/diagnostics/test-delivery", &body).await {
                Ok(t) => {
                    failure.set(None);
                    current.set(Some(t));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let running = move || current.get().is_some_and(|t| t.status == TestDeliveryStatus::Pending);
    view! {
        <section class="panel" aria-labelledby="test-delivery-title" id="test-delivery">
            <h2 id="test-delivery-title">"Test delivery"</h2>
            <p class="muted">"A worker connects to this domain's mail server as a delivery would, and reports every step."</p>
            <label class="check">
                <input type="checkbox" prop:checked=move || send_test.get() on:change=move |ev| send_test.set(event_target_checked(&ev))/>
                " Also send a test message through Moat's filtering and queue"
            </label>
            <Show when=move || send_test.get()>
                <Field id="test-recipient" label="Test message to" value=test_recipient kind="email"
                    error=Signal::derive(|| None::<String>)
                    hint="A mailbox of this domain (empty: your own); it arrives there like any mail."/>
            </Show>
            <button class="btn" on:click=run disabled=running>"Run test delivery"</button>
            {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            {move || current.get().map(|t| view! { <Timeline test=t/> })}
        </section>
    }
}

#[component]
fn Timeline(test: TestDelivery) -> impl IntoView {
    let verdict = match test.status {
        TestDeliveryStatus::Pending => "Waiting for a worker…".to_string(),
        TestDeliveryStatus::Passed => format!("Passed (run by {})", test.node.clone().unwrap_or_default()),
        TestDeliveryStatus::Failed => format!("Failed (run by {})", test.node.clone().unwrap_or_default()),
    };
    view! {
        <p class="test-verdict" role="status" data-status=moat_openapi::wire_name(&test.status) data-id=test.id.to_string()>{verdict}</p>
        <ol class="timeline" id="test-timeline">
            {test.stages.into_iter().map(|s| view! { <Stage stage=s/> }).collect_view()}
        </ol>
    }
}

#[component]
fn Stage(stage: StageResult) -> impl IntoView {
    let mark = if stage.ok { "✓" } else { "✗" };
    view! {
        <li class="stage" class:stage-failed=!stage.ok data-stage=moat_openapi::wire_name(&stage.stage)>
            <span class="stage-mark" aria-label=if stage.ok { "passed" } else { "failed" }>{mark}</span>
            <strong>{stage_label(stage.stage)}</strong>
            <span class="stage-time">{format!("{:.1} ms", stage.micros as f64 / 1000.0)}</span>
            <div class="stage-answer">{stage.answer}</div>
            {(!stage.details.is_empty()).then(|| view! {
                <ul class="stage-details">{stage.details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
            })}
        </li>
    }
}
