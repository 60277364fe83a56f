//! First-start accounts: the bootstrap platform admin, and the demo tenant of `make run`.

use moat_openapi::{CreateUser, Role, TlsMode};

use crate::auth::passwords;
use crate::config::Config;
use crate::store::{NewDomain, NewUser, Scope, Store, UserRecord, now};
use crate::validate;

/// Demo logins created by `MOAT_DEMO_SEED=true`, as (role, email, password).
pub const DEMO_LOGINS: [(&str, &str, &str); 4] = [
    ("platform admin", "admin@moat.test", "moat-demo-admin"),
    ("MSP admin", "msp@moat.test", "moat-demo-msp"),
    ("org admin", "admin@example.test", "moat-demo-orgadmin"),
    ("user", "user@example.test", "moat-demo-user"),
];

/// Creates a platform admin (for `moat-api admin create` and the bootstrap variables).
pub async fn create_platform_admin(store: &Store, email: &str, password: &str) -> anyhow::Result<UserRecord> {
    let email = validate::email("email", email).map_err(describe)?;
    passwords::validate("password", password).map_err(describe)?;
    let record = UserRecord {
        id: uuid::Uuid::new_v4(),
        msp_id: None,
        org_id: None,
        display_name: email.split('@').next().unwrap_or("admin").to_string(),
        email,
        role: Role::PlatformAdmin,
        password_hash: Some(passwords::hash(password).await.map_err(describe)?),
        time_zone: "UTC".into(),
        quarantine_delegate_id: None,
        active: true,
        disabled: false,
        created_at: now(),
    };
    store.create_user(&NewUser { record: record.clone(), activation: None }).await.map_err(describe)?;
    Ok(record)
}

fn describe(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// Creates the configured bootstrap admin when the platform has no admin yet.
pub async fn bootstrap_admin(store: &Store, config: &Config) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&config.bootstrap_admin_email, &config.bootstrap_admin_password) else {
        return Ok(());
    };
    if store.count_platform_admins().await.map_err(describe)? > 0 {
        return Ok(());
    }
    let admin = create_platform_admin(store, email, password.expose()).await?;
    tracing::info!(user_id = %admin.id, "bootstrap platform admin created");
    Ok(())
}

/// Seeds the demo MSP, organisation `example.test` and the [`DEMO_LOGINS`]; does nothing
/// when they exist already.
pub async fn demo(store: &Store) -> anyhow::Result<()> {
    if store.user_by_email(DEMO_LOGINS[3].1).await.map_err(describe)?.is_some() {
        return Ok(());
    }
    if store.user_by_email(DEMO_LOGINS[0].1).await.map_err(describe)?.is_none() {
        create_platform_admin(store, DEMO_LOGINS[0].1, DEMO_LOGINS[0].2).await?;
    }
    let msp = store.create_msp("Demo MSP").await.map_err(describe)?;
    let org = store.create_org(msp.id, "Example Corp").await.map_err(describe)?;
    store
        .create_domain(
            org.id,
            NewDomain {
                name: "example.test".into(),
                destination_host: "127.0.0.1".into(),
                destination_port: 2526,
                tls_mode: TlsMode::Opportunistic,
                inbound_enabled: true,
                outbound_enabled: true,
                maintenance_banner: None,
            },
        )
        .await
        .map_err(describe)?;
    let people = [
        (DEMO_LOGINS[1], Role::MspAdmin, "Demo MSP Admin"),
        (DEMO_LOGINS[2], Role::OrgAdmin, "Example Admin"),
        (DEMO_LOGINS[3], Role::User, "Example User"),
    ];
    for ((_, email, password), role, name) in people {
        let (msp_id, org_id) = if role == Role::MspAdmin { (Some(msp.id), None) } else { (None, Some(org.id)) };
        let input = CreateUser {
            email: email.into(),
            display_name: name.into(),
            role,
            password: Some(password.into()),
            time_zone: None,
        };
        let record = UserRecord {
            id: uuid::Uuid::new_v4(),
            msp_id,
            org_id,
            email: input.email.clone(),
            display_name: input.display_name.clone(),
            role,
            password_hash: Some(passwords::hash(password).await.map_err(describe)?),
            time_zone: "UTC".into(),
            quarantine_delegate_id: None,
            active: true,
            disabled: false,
            created_at: now(),
        };
        store.create_user(&NewUser { record, activation: None }).await.map_err(describe)?;
    }
    debug_assert!(store.get_org(Scope::Platform, org.id).await.is_ok());
    tracing::info!(org_id = %org.id, "demo tenant seeded");
    Ok(())
}
