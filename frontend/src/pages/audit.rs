//! The audit log (admins): who changed what, when, from where, with what outcome, within the
//! admin's reach; searchable, and downloadable as CSV.

use leptos::prelude::*;
use moat_openapi::{AuditList, wire_name};

use crate::components::{Field, PagedList};

#[component]
pub fn AuditPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    view! {
        <section class="panel">
            <h1>"Audit log"</h1>
            <form class="inline-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                query.set(search.get().trim().to_string());
            }>
                <Field id="audit-search" label="Search who or what" value=search error=Signal::derive(|| None::<String>)/>
                <button class="btn" type="submit">"Search"</button>
            </form>
            {move || {
                let q = query.get();
                let path = if q.is_empty() {
                    "/audit".to_string()
                } else {
                    format!("/audit?q={}", js_sys::encode_uri_component(&q))
                };
                let list = PagedList::<AuditList>::new(&path);
                list.view("Nothing recorded yet.", |l| view! {
                    <table class="table" id="audit-table">
                        <thead><tr>
                            <th scope="col">"When (UTC)"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                            <th scope="col">"Outcome"</th><th scope="col">"From"</th>
                        </tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|e| view! {
                                <tr>
                                    <td>{e.at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                    <td>{format!("{} ({})", e.actor, wire_name(&e.actor_kind))}</td>
                                    <td>{e.action.clone()}</td>
                                    <td>{e.status}</td>
                                    <td>{e.ip.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())
            }}
            <p>"The CSV export (" <code>"GET /api/v1/audit/export.csv"</code> ") holds the same entries for spreadsheets and PSA tools."</p>
        </section>
    }
}
