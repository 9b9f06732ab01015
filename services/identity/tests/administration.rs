//! The calls people make about themselves and admins make about everyone:
//! profiles, exporting and deleting one's data, looking people up, blocking,
//! platform roles and the core team, departments, the registration policy and
//! the signing key — each normal path and each way it is refused, on both
//! databases.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inspraak_bus::decode_payload;
use inspraak_identity::IdentitySettings;
use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as proto;
use prost_types::FieldMask;
use support::{Backend, Identity, PASSWORD, Person, PlatformRole, authed, unique_email};
use tonic::{Code, Status};
use tonic_types::StatusExt;

// --- helpers ---

/// Asserts that `result` failed with `code` and returns the status.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) -> Status {
    match result {
        Ok(value) => panic!("{what}: expected {code:?}, got a success: {value:?}"),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "{what}: expected {code:?}, got {status:?}"
            );
            status
        }
    }
}

/// The fields named by the status's field violations, sorted.
fn violated_fields(status: &Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no field violations in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    fields
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// The claims of an access token, decoded but not verified.
fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .expect("the JWT payload is base64url");
    serde_json::from_slice(&bytes).expect("the JWT payload is JSON")
}

fn string_set(value: &serde_json::Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

fn has_role(user: &proto::User, role: PlatformRole) -> bool {
    user.roles.iter().any(|grant| grant.role == role as i32)
}

fn warning_codes(overview: &proto::GovernanceOverview) -> Vec<&str> {
    overview.warnings.iter().map(|w| w.code.as_str()).collect()
}

async fn get_me(identity: &Identity, token: &str) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .get_me(authed(proto::GetMeRequest {}, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn get_user(identity: &Identity, token: &str, id: &str) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .get_user(authed(proto::GetUserRequest { id: id.to_owned() }, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn update_me(
    identity: &Identity,
    token: &str,
    request: proto::UpdateMeRequest,
) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .update_me(authed(request, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn login(identity: &Identity, email: &str, password: &str) -> Result<proto::Session, Status> {
    identity
        .client
        .clone()
        .login(proto::LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn grant(
    identity: &Identity,
    admin: &Person,
    user_id: &str,
    role: i32,
    project_reviewer: bool,
) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .grant_role(authed(
            proto::GrantRoleRequest {
                user_id: user_id.to_owned(),
                role,
                project_reviewer,
            },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn revoke(
    identity: &Identity,
    admin: &Person,
    user_id: &str,
    role: PlatformRole,
) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .revoke_role(authed(
            proto::RevokeRoleRequest {
                user_id: user_id.to_owned(),
                role: role as i32,
            },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn overview(identity: &Identity, token: &str) -> Result<proto::GovernanceOverview, Status> {
    identity
        .client
        .clone()
        .get_governance_overview(authed(proto::GetGovernanceOverviewRequest {}, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn block(
    identity: &Identity,
    admin: &Person,
    id: &str,
    reason: &str,
    until: Option<prost_types::Timestamp>,
) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .block_user(authed(
            proto::BlockUserRequest {
                id: id.to_owned(),
                reason: reason.to_owned(),
                until,
            },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn unblock(identity: &Identity, admin: &Person, id: &str) -> Result<proto::User, Status> {
    identity
        .client
        .clone()
        .unblock_user(authed(
            proto::UnblockUserRequest { id: id.to_owned() },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn list_users(
    identity: &Identity,
    token: &str,
    request: proto::ListUsersRequest,
) -> Result<proto::ListUsersResponse, Status> {
    identity
        .client
        .clone()
        .list_users(authed(request, token))
        .await
        .map(tonic::Response::into_inner)
}

/// Every page of a listing, followed to its end; the ids in order.
async fn list_all(
    identity: &Identity,
    token: &str,
    request: proto::ListUsersRequest,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = list_users(
            identity,
            token,
            proto::ListUsersRequest {
                page_token: page_token.clone(),
                ..request.clone()
            },
        )
        .await
        .expect("a page of users");
        ids.extend(page.users.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
    panic!("the listing never ended");
}

async fn create_department(
    identity: &Identity,
    admin: &Person,
    name: &str,
    request_id: &str,
) -> Result<proto::Department, Status> {
    identity
        .client
        .clone()
        .create_department(authed(
            proto::CreateDepartmentRequest {
                name: name.to_owned(),
                request_id: request_id.to_owned(),
            },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn archive_department(
    identity: &Identity,
    admin: &Person,
    id: &str,
) -> Result<proto::Department, Status> {
    identity
        .client
        .clone()
        .archive_department(authed(
            proto::ArchiveDepartmentRequest { id: id.to_owned() },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn add_member(
    identity: &Identity,
    admin: &Person,
    department_id: &str,
    user_id: &str,
) -> Result<proto::Department, Status> {
    identity
        .client
        .clone()
        .add_department_member(authed(
            proto::AddDepartmentMemberRequest {
                department_id: department_id.to_owned(),
                user_id: user_id.to_owned(),
            },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn remove_member(
    identity: &Identity,
    admin: &Person,
    department_id: &str,
    user_id: &str,
) -> Result<proto::Department, Status> {
    identity
        .client
        .clone()
        .remove_department_member(authed(
            proto::RemoveDepartmentMemberRequest {
                department_id: department_id.to_owned(),
                user_id: user_id.to_owned(),
            },
            &admin.access,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn list_departments(identity: &Identity, include_archived: bool) -> Vec<proto::Department> {
    identity
        .client
        .clone()
        .list_departments(proto::ListDepartmentsRequest { include_archived })
        .await
        .expect("ListDepartments")
        .into_inner()
        .departments
}

async fn policy(identity: &Identity) -> proto::RegistrationPolicy {
    identity
        .client
        .clone()
        .get_registration_policy(proto::GetRegistrationPolicyRequest {})
        .await
        .expect("GetRegistrationPolicy")
        .into_inner()
}

async fn update_policy(
    identity: &Identity,
    token: &str,
    policy: Option<proto::RegistrationPolicy>,
    etag: &str,
) -> Result<proto::RegistrationPolicy, Status> {
    identity
        .client
        .clone()
        .update_registration_policy(authed(
            proto::UpdateRegistrationPolicyRequest {
                policy,
                etag: etag.to_owned(),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// How many events of `event_type` about `aggregate_id` were published, after
/// giving the relay time to deliver any that are on their way.
async fn count_events(identity: &Identity, event_type: &str, aggregate_id: &str) -> usize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    identity
        .events()
        .await
        .iter()
        .filter(|e| e.r#type == event_type && e.aggregate_id == aggregate_id)
        .count()
}

/// The payload of the first event of `event_type` about `aggregate_id` that
/// satisfies `wanted`, waiting for the relay to deliver it.
async fn event_where<M: prost::Name + Default>(
    identity: &Identity,
    event_type: &str,
    aggregate_id: &str,
    wanted: impl Fn(&M) -> bool,
) -> M {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = identity
            .events()
            .await
            .iter()
            .filter(|e| e.r#type == event_type && e.aggregate_id == aggregate_id)
            .filter_map(|e| decode_payload::<M>(e).ok())
            .find(|payload| wanted(payload));
        if let Some(payload) = found {
            return payload;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such {event_type} for {aggregate_id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn choice(value: &str) -> proto::FieldValue {
    proto::FieldValue {
        value: Some(proto::field_value::Value::Choice(value.to_owned())),
    }
}

fn number(value: f64) -> proto::FieldValue {
    proto::FieldValue {
        value: Some(proto::field_value::Value::Number(value)),
    }
}

/// The defaults plus a required `district` (single choice) and an optional
/// `birth_year` (a number from 1900 to 2026).
fn district_policy(base: proto::RegistrationPolicy) -> proto::RegistrationPolicy {
    proto::RegistrationPolicy {
        fields: vec![
            proto::RegistrationField {
                key: "district".to_owned(),
                label: HashMap::from([
                    ("nl".to_owned(), "Wijk".to_owned()),
                    ("fr".to_owned(), "Quartier".to_owned()),
                ]),
                r#type: proto::FieldType::SingleChoice as i32,
                required: true,
                options: vec!["centrum".to_owned(), "noord".to_owned(), "zuid".to_owned()],
                min: 0.0,
                max: 0.0,
            },
            proto::RegistrationField {
                key: "birth_year".to_owned(),
                label: HashMap::from([("nl".to_owned(), "Geboortejaar".to_owned())]),
                r#type: proto::FieldType::Number as i32,
                required: false,
                options: Vec::new(),
                min: 1900.0,
                max: 2026.0,
            },
        ],
        ..base
    }
}

fn registration(email: &str, password: &str) -> proto::RegisterRequest {
    proto::RegisterRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        display_name: "Registrant".to_owned(),
        locale: "nl".to_owned(),
        fields: HashMap::new(),
    }
}

// --- profiles ---

async fn a_person_reads_and_updates_their_profile(backend: Backend) {
    let identity = Identity::start(backend).await;
    let person = identity.resident("profile-").await;

    let me = get_me(&identity, &person.access).await.expect("GetMe");
    assert_eq!(me.id, person.id);
    assert_eq!(me.email, person.email);
    assert!(me.email_confirmed);
    assert_eq!(me.display_name, "Test Person");
    assert_eq!(me.locale, "nl");
    assert_eq!(me.status, proto::UserStatus::Active as i32);
    assert!(me.roles.is_empty());
    assert!(!me.etag.is_empty());

    // Only the masked field changes, even if others are filled in.
    let renamed = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "  Ann Peeters ".to_owned(),
            locale: "de".to_owned(),
            update_mask: mask(&["display_name"]),
            etag: me.etag.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("UpdateMe display_name");
    assert_eq!(renamed.display_name, "Ann Peeters", "trimmed");
    assert_eq!(renamed.locale, "nl", "locale was not in the mask");
    assert_ne!(renamed.etag, me.etag, "a change gives a new etag");
    let event = identity.event("identity.user.updated.v1", &person.id).await;
    let payload = decode_payload::<events::UserUpdated>(&event).expect("a UserUpdated payload");
    assert_eq!(payload.user_id, person.id);
    assert_eq!(payload.display_name, "Ann Peeters");
    assert_eq!(payload.locale, "nl");

    let relocalised = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "Ignored".to_owned(),
            locale: "fr_be".to_owned(),
            update_mask: mask(&["locale"]),
            etag: String::new(),
            ..Default::default()
        },
    )
    .await
    .expect("UpdateMe locale without an etag");
    assert_eq!(relocalised.locale, "fr-BE");
    assert_eq!(relocalised.display_name, "Ann Peeters");

    // The first etag is stale now.
    let stale = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "Late Writer".to_owned(),
            update_mask: mask(&["display_name"]),
            etag: me.etag.clone(),
            ..Default::default()
        },
    )
    .await;
    refused(stale, Code::Aborted, "UpdateMe with a stale etag");

    // With the default policy there are no fields: an empty set is fine,
    // an unknown one is not.
    let no_fields = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            update_mask: mask(&["fields"]),
            ..Default::default()
        },
    )
    .await
    .expect("UpdateMe fields, none");
    assert!(no_fields.fields.is_empty());
    let unknown_field = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            fields: HashMap::from([("shoe_size".to_owned(), number(42.0))]),
            update_mask: mask(&["fields"]),
            ..Default::default()
        },
    )
    .await;
    let status = refused(
        unknown_field,
        Code::InvalidArgument,
        "UpdateMe with a field the policy lacks",
    );
    assert_eq!(violated_fields(&status), ["fields[shoe_size]"]);

    let empty_mask = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "Nobody".to_owned(),
            update_mask: mask(&[]),
            ..Default::default()
        },
    )
    .await;
    let status = refused(
        empty_mask,
        Code::InvalidArgument,
        "UpdateMe with an empty mask",
    );
    assert_eq!(violated_fields(&status), ["update_mask"]);
    let no_mask = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "Nobody".to_owned(),
            update_mask: None,
            ..Default::default()
        },
    )
    .await;
    refused(no_mask, Code::InvalidArgument, "UpdateMe without a mask");

    let unknown_path = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "Nobody".to_owned(),
            update_mask: mask(&["display_name", "email"]),
            ..Default::default()
        },
    )
    .await;
    let status = refused(
        unknown_path,
        Code::InvalidArgument,
        "UpdateMe with an unknown path",
    );
    assert_eq!(violated_fields(&status), ["update_mask"]);

    let blank_name = update_me(
        &identity,
        &person.access,
        proto::UpdateMeRequest {
            display_name: "   ".to_owned(),
            update_mask: mask(&["display_name"]),
            ..Default::default()
        },
    )
    .await;
    let status = refused(
        blank_name,
        Code::InvalidArgument,
        "UpdateMe with a blank name",
    );
    assert_eq!(violated_fields(&status), ["display_name"]);

    // Nothing refused changed anything.
    let after = get_me(&identity, &person.access).await.expect("GetMe");
    assert_eq!(after.display_name, "Ann Peeters");
    assert_eq!(after.locale, "fr-BE");
    assert_eq!(after.email, person.email);
    assert_eq!(after.etag, no_fields.etag);

    let anonymous = identity.client.clone().get_me(proto::GetMeRequest {}).await;
    refused(anonymous, Code::Unauthenticated, "GetMe without a token");
    identity.stop().await;
}

async fn an_export_holds_the_person_and_their_role_history(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("export-").await;
    grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::CommunicationOfficer as i32,
        false,
    )
    .await
    .expect("grant communication officer");
    revoke(
        &identity,
        &admin,
        &person.id,
        PlatformRole::CommunicationOfficer,
    )
    .await
    .expect("revoke communication officer");
    grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::DecisionMaker as i32,
        false,
    )
    .await
    .expect("grant decision-maker");

    let export = identity
        .client
        .clone()
        .export_my_data(authed(proto::ExportMyDataRequest {}, &person.access))
        .await
        .expect("ExportMyData")
        .into_inner();
    let user = export.user.expect("the export holds the user");
    assert_eq!(user.id, person.id);
    assert_eq!(user.email, person.email);
    assert!(has_role(&user, PlatformRole::DecisionMaker));
    assert!(!has_role(&user, PlatformRole::CommunicationOfficer));
    let history: Vec<(i32, bool, &str)> = export
        .role_history
        .iter()
        .map(|change| (change.role, change.granted, change.by.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (
                PlatformRole::CommunicationOfficer as i32,
                true,
                admin.id.as_str()
            ),
            (
                PlatformRole::CommunicationOfficer as i32,
                false,
                admin.id.as_str()
            ),
            (PlatformRole::DecisionMaker as i32, true, admin.id.as_str()),
        ]
    );
    assert!(export.role_history.iter().all(|change| change.at.is_some()));
    assert!(
        !export.sessions.is_empty(),
        "the sign-in shows among the sessions"
    );

    // Without a token there is no one whose data to export.
    let anonymous = identity
        .client
        .clone()
        .export_my_data(proto::ExportMyDataRequest {})
        .await;
    refused(
        anonymous,
        Code::Unauthenticated,
        "ExportMyData without a token",
    );
    identity.stop().await;
}

async fn deleting_an_account_anonymises_it(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("leaving-").await;
    let mut client = identity.client.clone();

    let wrong = client
        .delete_me(authed(
            proto::DeleteMeRequest {
                password: "not the password".to_owned(),
            },
            &person.access,
        ))
        .await;
    let status = refused(
        wrong,
        Code::InvalidArgument,
        "DeleteMe with a wrong password",
    );
    assert_eq!(violated_fields(&status), ["password"]);
    get_me(&identity, &person.access)
        .await
        .expect("a wrong password deletes nothing");

    client
        .delete_me(authed(
            proto::DeleteMeRequest {
                password: PASSWORD.to_owned(),
            },
            &person.access,
        ))
        .await
        .expect("DeleteMe");
    let event = identity.event("identity.user.deleted.v1", &person.id).await;
    let payload = decode_payload::<events::UserDeleted>(&event).expect("a UserDeleted payload");
    assert_eq!(payload.user_id, person.id);

    // The old access token, refresh token and credentials are all dead.
    let old_token = get_me(&identity, &person.access).await;
    refused(
        old_token,
        Code::Unauthenticated,
        "GetMe with a deleted account's token",
    );
    let old_refresh = client
        .refresh(proto::RefreshRequest {
            refresh_token: person.refresh.clone(),
        })
        .await;
    refused(
        old_refresh,
        Code::Unauthenticated,
        "Refresh of a deleted account",
    );
    let old_login = login(&identity, &person.email, PASSWORD).await;
    refused(
        old_login,
        Code::Unauthenticated,
        "Login with a deleted account's credentials",
    );

    // Admins no longer find the person; the anonymised record keeps nothing.
    let lookup = get_user(&identity, &admin.access, &person.id).await;
    refused(lookup, Code::NotFound, "GetUser of a deleted account");
    let listed = list_all(&identity, &admin.access, proto::ListUsersRequest::default()).await;
    assert!(
        !listed.contains(&person.id),
        "deleted accounts are not listed"
    );
    let deleted = list_users(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            status: proto::UserStatus::Deleted as i32,
            ..Default::default()
        },
    )
    .await
    .expect("ListUsers of deleted accounts")
    .users;
    let record = deleted
        .iter()
        .find(|u| u.id == person.id)
        .expect("the anonymised record");
    assert_ne!(record.email, person.email);
    assert!(!record.email.contains(&person.email));
    assert!(record.display_name.is_empty());
    assert!(record.fields.is_empty());
    assert!(record.roles.is_empty());

    // The address is free again: a new account, with a new password.
    let new_password = "an entirely new passphrase";
    let again = client
        .register(registration(&person.email, new_password))
        .await
        .expect("the old address registers again")
        .into_inner()
        .user
        .expect("user");
    assert_ne!(again.id, person.id);
    let old_login = login(&identity, &person.email, PASSWORD).await;
    refused(
        old_login,
        Code::Unauthenticated,
        "Login with the deleted account's password",
    );
    let session = login(&identity, &person.email, new_password)
        .await
        .expect("the new account signs in");
    assert_eq!(session.user_id, again.id);
    identity.stop().await;
}

// --- looking people up ---

async fn people_look_up_themselves_and_admins_anyone(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let ann = identity.resident("ann-").await;
    let bert = identity.resident("bert-").await;

    let own = get_user(&identity, &ann.access, &ann.id)
        .await
        .expect("GetUser of oneself");
    assert_eq!(own.email, ann.email);
    let other = get_user(&identity, &bert.access, &ann.id).await;
    let status = refused(other, Code::PermissionDenied, "GetUser of another resident");
    assert!(
        !status.message().contains(&ann.email),
        "a refusal tells nothing about the person"
    );
    let by_admin = get_user(&identity, &admin.access, &ann.id)
        .await
        .expect("GetUser by an admin");
    assert_eq!(by_admin.email, ann.email);
    assert_eq!(by_admin.display_name, "Test Person");

    let unknown = get_user(&identity, &admin.access, &uuid::Uuid::now_v7().to_string()).await;
    refused(unknown, Code::NotFound, "GetUser of an unknown id");
    let malformed = get_user(&identity, &admin.access, "not-a-user-id").await;
    let status = refused(
        malformed,
        Code::InvalidArgument,
        "GetUser of a malformed id",
    );
    assert_eq!(violated_fields(&status), ["id"]);
    identity.stop().await;
}

async fn admins_page_through_and_filter_people(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let mut residents = Vec::new();
    for _ in 0..5 {
        residents.push(identity.resident("lister-").await);
    }
    let everyone: BTreeSet<String> = residents
        .iter()
        .map(|r| r.id.clone())
        .chain([admin.id.clone()])
        .collect();

    // Keyset pages of two: every account exactly once.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = list_users(
            &identity,
            &admin.access,
            proto::ListUsersRequest {
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("a page");
        pages += 1;
        assert!(page.users.len() <= 2, "page {pages} is too long");
        assert!(!page.users.is_empty(), "page {pages} is empty");
        seen.extend(page.users.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages < 10, "the pages never end");
        page_token = page.next_page_token;
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "someone was listed twice: {seen:?}"
    );
    assert_eq!(unique, everyone);
    assert_eq!(pages, 3);

    // Only admins (and services) list people.
    let by_resident = list_users(
        &identity,
        &residents[0].access,
        proto::ListUsersRequest::default(),
    )
    .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "ListUsers by a resident",
    );

    // By role.
    for r in &residents[..2] {
        grant(
            &identity,
            &admin,
            &r.id,
            PlatformRole::DecisionMaker as i32,
            false,
        )
        .await
        .expect("grant decision-maker");
    }
    let decision_makers: BTreeSet<String> = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            role: PlatformRole::DecisionMaker as i32,
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .collect();
    assert_eq!(
        decision_makers,
        residents[..2].iter().map(|r| r.id.clone()).collect()
    );
    let admins = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            role: PlatformRole::PlatformAdmin as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(admins, std::slice::from_ref(&admin.id));

    // By department.
    let department = create_department(&identity, &admin, "Stadsontwikkeling", "")
        .await
        .expect("CreateDepartment");
    for r in &residents[1..4] {
        add_member(&identity, &admin, &department.id, &r.id)
            .await
            .expect("AddDepartmentMember");
    }
    let members: BTreeSet<String> = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            department_id: department.id.clone(),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .collect();
    assert_eq!(
        members,
        residents[1..4].iter().map(|r| r.id.clone()).collect()
    );
    // Role and department together.
    let both = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            role: PlatformRole::DecisionMaker as i32,
            department_id: department.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(both, [residents[1].id.clone()]);

    // By the start of the address or of the display name.
    let all_listers: BTreeSet<String> = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            query: "LISTER-".to_owned(),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .collect();
    assert_eq!(
        all_listers,
        residents.iter().map(|r| r.id.clone()).collect(),
        "an address prefix, in any case"
    );
    let local_part = residents[3]
        .email
        .split('@')
        .next()
        .expect("an address")
        .to_owned();
    let one = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            query: local_part,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(one, [residents[3].id.clone()]);
    update_me(
        &identity,
        &residents[4].access,
        proto::UpdateMeRequest {
            display_name: "Zeno Vermeulen".to_owned(),
            update_mask: mask(&["display_name"]),
            ..Default::default()
        },
    )
    .await
    .expect("rename");
    let by_name = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            query: "zeno".to_owned(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_name, [residents[4].id.clone()]);
    let middle = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            query: "vermeulen".to_owned(),
            ..Default::default()
        },
    )
    .await;
    assert!(middle.is_empty(), "only the start of a name matches");

    // By status.
    block(&identity, &admin, &residents[2].id, "spam", None)
        .await
        .expect("BlockUser");
    let blocked = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            status: proto::UserStatus::Blocked as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(blocked, [residents[2].id.clone()]);

    // Bad requests.
    for (request, field) in [
        (
            proto::ListUsersRequest {
                page_token: "not a token".to_owned(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            proto::ListUsersRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            proto::ListUsersRequest {
                department_id: "not a department".to_owned(),
                ..Default::default()
            },
            "department_id",
        ),
        (
            proto::ListUsersRequest {
                role: 99,
                ..Default::default()
            },
            "role",
        ),
        (
            proto::ListUsersRequest {
                status: 99,
                ..Default::default()
            },
            "status",
        ),
    ] {
        let outcome = list_users(&identity, &admin.access, request).await;
        let status = refused(outcome, Code::InvalidArgument, field);
        assert_eq!(violated_fields(&status), [field]);
    }
    identity.stop().await;
}

/// `query` matches the start of the address: an address with `_` or `%` in it
/// is found by its own start, like any other.
async fn a_query_matches_addresses_with_underscores(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("jan_peeters-").await;
    let local_part = person
        .email
        .split('@')
        .next()
        .expect("an address")
        .to_owned();
    let found = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            query: local_part.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        found,
        std::slice::from_ref(&person.id),
        "ListUsers query {local_part:?} should find {}",
        person.email
    );
    let by_prefix = list_all(
        &identity,
        &admin.access,
        proto::ListUsersRequest {
            query: "jan_".to_owned(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        by_prefix,
        std::slice::from_ref(&person.id),
        "ListUsers query \"jan_\""
    );
    identity.stop().await;
}

// --- blocking ---

async fn admins_block_and_unblock(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("blocked-").await;
    let bystander = identity.resident("bystander-").await;

    // Refusals first; none of them blocks anyone.
    let by_resident = identity
        .client
        .clone()
        .block_user(authed(
            proto::BlockUserRequest {
                id: person.id.clone(),
                reason: "spam".to_owned(),
                until: None,
            },
            &bystander.access,
        ))
        .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "BlockUser by a resident",
    );
    let empty_reason = block(&identity, &admin, &person.id, "   ", None).await;
    let status = refused(
        empty_reason,
        Code::InvalidArgument,
        "BlockUser without a reason",
    );
    assert_eq!(violated_fields(&status), ["reason"]);
    let past = timestamp(identity.clock.now() - chrono::Duration::minutes(5));
    let in_the_past = block(&identity, &admin, &person.id, "spam", Some(past)).await;
    let status = refused(
        in_the_past,
        Code::InvalidArgument,
        "BlockUser until a past time",
    );
    assert_eq!(violated_fields(&status), ["until"]);
    let themselves = block(&identity, &admin, &admin.id, "testing", None).await;
    refused(
        themselves,
        Code::FailedPrecondition,
        "an admin blocking themselves",
    );
    let unknown = block(
        &identity,
        &admin,
        &uuid::Uuid::now_v7().to_string(),
        "spam",
        None,
    )
    .await;
    refused(unknown, Code::NotFound, "BlockUser of an unknown id");
    let not_blocked = unblock(&identity, &admin, &person.id).await;
    refused(
        not_blocked,
        Code::FailedPrecondition,
        "UnblockUser of an account that is not blocked",
    );
    get_me(&identity, &person.access)
        .await
        .expect("the refusals blocked nobody");

    // Blocked until further notice.
    let blocked = block(&identity, &admin, &person.id, "  spam  ", None)
        .await
        .expect("BlockUser");
    assert_eq!(blocked.status, proto::UserStatus::Blocked as i32);
    assert_eq!(blocked.block_reason, "spam");
    assert!(blocked.blocked_until.is_none());
    let event = identity.event("identity.user.blocked.v1", &person.id).await;
    let payload = decode_payload::<events::UserBlocked>(&event).expect("a UserBlocked payload");
    assert_eq!(payload.user_id, person.id);
    assert_eq!(payload.reason, "spam");
    assert_eq!(payload.blocked_by, admin.id);
    assert!(payload.until.is_none());

    let signing_in = login(&identity, &person.email, PASSWORD).await;
    refused(
        signing_in,
        Code::PermissionDenied,
        "Login of a blocked account",
    );
    let acting = get_me(&identity, &person.access).await;
    refused(
        acting,
        Code::PermissionDenied,
        "GetMe with a blocked account's token",
    );
    let refreshing = identity
        .client
        .clone()
        .refresh(proto::RefreshRequest {
            refresh_token: person.refresh.clone(),
        })
        .await;
    refused(
        refreshing,
        Code::Unauthenticated,
        "Refresh of a session a block ended",
    );
    let seen_by_admin = get_user(&identity, &admin.access, &person.id)
        .await
        .expect("admins still see a blocked account");
    assert_eq!(seen_by_admin.status, proto::UserStatus::Blocked as i32);
    get_me(&identity, &bystander.access)
        .await
        .expect("others are not affected");

    let unblocked = unblock(&identity, &admin, &person.id)
        .await
        .expect("UnblockUser");
    assert_eq!(unblocked.status, proto::UserStatus::Active as i32);
    assert!(unblocked.block_reason.is_empty());
    assert!(unblocked.blocked_until.is_none());
    let event = identity
        .event("identity.user.unblocked.v1", &person.id)
        .await;
    let payload = decode_payload::<events::UserUnblocked>(&event).expect("a UserUnblocked payload");
    assert_eq!(payload.unblocked_by, admin.id);
    let session = login(&identity, &person.email, PASSWORD)
        .await
        .expect("an unblocked account signs in");
    get_me(&identity, &session.access_token)
        .await
        .expect("and acts again");
    let twice = unblock(&identity, &admin, &person.id).await;
    refused(twice, Code::FailedPrecondition, "UnblockUser twice");
    identity.stop().await;
}

async fn a_block_with_an_end_expires(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("timeout-").await;

    let until = identity.clock.now() + chrono::Duration::hours(1);
    let blocked = block(
        &identity,
        &admin,
        &person.id,
        "cooling off",
        Some(timestamp(until)),
    )
    .await
    .expect("BlockUser for an hour");
    assert_eq!(blocked.blocked_until, Some(timestamp(until)));
    let event = identity.event("identity.user.blocked.v1", &person.id).await;
    let payload = decode_payload::<events::UserBlocked>(&event).expect("a UserBlocked payload");
    assert_eq!(payload.until, Some(timestamp(until)));
    refused(
        login(&identity, &person.email, PASSWORD).await,
        Code::PermissionDenied,
        "Login during the block",
    );
    refused(
        get_me(&identity, &person.access).await,
        Code::PermissionDenied,
        "GetMe during the block",
    );

    identity
        .clock
        .advance(chrono::Duration::hours(2))
        .expect("the harness clock is manual");
    let session = login(&identity, &person.email, PASSWORD)
        .await
        .expect("Login after the block ended");
    let me = get_me(&identity, &session.access_token)
        .await
        .expect("GetMe after the block ended");
    assert_eq!(me.id, person.id);
    update_me(
        &identity,
        &session.access_token,
        proto::UpdateMeRequest {
            display_name: "Back Again".to_owned(),
            update_mask: mask(&["display_name"]),
            ..Default::default()
        },
    )
    .await
    .expect("UpdateMe after the block ended");
    identity.stop().await;
}

/// Once a block's end has passed the account is active again, and reads so.
async fn an_ended_block_no_longer_reads_as_blocked(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("ended-").await;
    let until = identity.clock.now() + chrono::Duration::hours(1);
    block(
        &identity,
        &admin,
        &person.id,
        "cooling off",
        Some(timestamp(until)),
    )
    .await
    .expect("BlockUser for an hour");
    identity
        .clock
        .advance(chrono::Duration::hours(2))
        .expect("the harness clock is manual");
    let session = login(&identity, &person.email, PASSWORD)
        .await
        .expect("Login after the block ended");
    let me = get_me(&identity, &session.access_token)
        .await
        .expect("GetMe after the block ended");
    assert_eq!(
        proto::UserStatus::try_from(me.status),
        Ok(proto::UserStatus::Active),
        "GetMe of an account whose block ended: {me:?}"
    );
    let admin_session = identity.login(&admin.email).await;
    let blocked = list_all(
        &identity,
        &admin_session.access_token,
        proto::ListUsersRequest {
            status: proto::UserStatus::Blocked as i32,
            ..Default::default()
        },
    )
    .await;
    assert!(
        !blocked.contains(&person.id),
        "ListUsers status=BLOCKED lists an account whose block ended"
    );
    identity.stop().await;
}

// --- platform roles ---

async fn admins_grant_and_revoke_roles(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("promoted-").await;

    let officer = grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::CommunicationOfficer as i32,
        false,
    )
    .await
    .expect("grant communication officer");
    let role = officer
        .roles
        .iter()
        .find(|g| g.role == PlatformRole::CommunicationOfficer as i32)
        .expect("the granted role");
    assert_eq!(role.granted_by, admin.id);
    assert!(role.granted_at.is_some());
    assert!(!role.project_reviewer);
    let payload = event_where(
        &identity,
        "identity.role.granted.v1",
        &person.id,
        |granted: &events::RoleGranted| granted.role == "communication_officer",
    )
    .await;
    assert_eq!(payload.granted_by, admin.id);

    let both = grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::DecisionMaker as i32,
        false,
    )
    .await
    .expect("grant decision-maker");
    assert!(has_role(&both, PlatformRole::CommunicationOfficer));
    assert!(has_role(&both, PlatformRole::DecisionMaker));
    let payload = event_where(
        &identity,
        "identity.role.granted.v1",
        &person.id,
        |granted: &events::RoleGranted| granted.role == "decision_maker",
    )
    .await;
    assert_eq!(payload.granted_by, admin.id);
    assert!(!payload.project_reviewer);

    let reviewer = grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::PlatformAdmin as i32,
        true,
    )
    .await
    .expect("grant platform admin, reviewing projects");
    let admin_grant = reviewer
        .roles
        .iter()
        .find(|g| g.role == PlatformRole::PlatformAdmin as i32)
        .expect("the admin role");
    assert!(admin_grant.project_reviewer);
    let payload = event_where(
        &identity,
        "identity.role.granted.v1",
        &person.id,
        |granted: &events::RoleGranted| granted.role == "platform_admin",
    )
    .await;
    assert!(payload.project_reviewer);

    // A new sign-in carries the roles.
    let session = identity.login(&person.email).await;
    assert_eq!(
        string_set(&claims(&session.access_token)["roles"]),
        BTreeSet::from([
            "communication_officer".to_owned(),
            "decision_maker".to_owned(),
            "platform_admin".to_owned(),
        ])
    );

    // Refusals.
    let reviewing_officer = grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::CommunicationOfficer as i32,
        true,
    )
    .await;
    let status = refused(
        reviewing_officer,
        Code::InvalidArgument,
        "project_reviewer on a communication officer",
    );
    assert_eq!(violated_fields(&status), ["project_reviewer"]);
    let reviewing_decision_maker = grant(
        &identity,
        &admin,
        &person.id,
        PlatformRole::DecisionMaker as i32,
        true,
    )
    .await;
    refused(
        reviewing_decision_maker,
        Code::InvalidArgument,
        "project_reviewer on a decision-maker",
    );
    for role in [PlatformRole::Unspecified as i32, 99] {
        let outcome = grant(&identity, &admin, &person.id, role, false).await;
        let status = refused(outcome, Code::InvalidArgument, "GrantRole without a role");
        assert_eq!(violated_fields(&status), ["role"]);
    }
    let unknown = grant(
        &identity,
        &admin,
        &uuid::Uuid::now_v7().to_string(),
        PlatformRole::DecisionMaker as i32,
        false,
    )
    .await;
    refused(unknown, Code::NotFound, "GrantRole to an unknown id");
    let malformed = grant(
        &identity,
        &admin,
        "nobody",
        PlatformRole::DecisionMaker as i32,
        false,
    )
    .await;
    refused(
        malformed,
        Code::InvalidArgument,
        "GrantRole to a malformed id",
    );
    let by_resident = identity
        .client
        .clone()
        .grant_role(authed(
            proto::GrantRoleRequest {
                user_id: person.id.clone(),
                role: PlatformRole::PlatformAdmin as i32,
                project_reviewer: false,
            },
            &identity.resident("climber-").await.access,
        ))
        .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "GrantRole by a resident",
    );
    let unspecified_revoke = identity
        .client
        .clone()
        .revoke_role(authed(
            proto::RevokeRoleRequest {
                user_id: person.id.clone(),
                role: PlatformRole::Unspecified as i32,
            },
            &admin.access,
        ))
        .await;
    refused(
        unspecified_revoke,
        Code::InvalidArgument,
        "RevokeRole without a role",
    );

    // Revoking takes effect at once, even for tokens already issued.
    let second_admin = Person {
        access: session.access_token.clone(),
        refresh: session.refresh_token.clone(),
        ..person.clone()
    };
    overview(&identity, &second_admin.access)
        .await
        .expect("the new admin sees the overview");
    let revoked = revoke(&identity, &admin, &person.id, PlatformRole::PlatformAdmin)
        .await
        .expect("revoke platform admin");
    assert!(!has_role(&revoked, PlatformRole::PlatformAdmin));
    let event = identity.event("identity.role.revoked.v1", &person.id).await;
    let payload = decode_payload::<events::RoleRevoked>(&event).expect("a RoleRevoked payload");
    assert_eq!(payload.role, "platform_admin");
    assert_eq!(payload.revoked_by, admin.id);
    refused(
        overview(&identity, &second_admin.access).await,
        Code::PermissionDenied,
        "the overview with a token whose admin role was revoked",
    );
    let revoked = revoke(
        &identity,
        &admin,
        &person.id,
        PlatformRole::CommunicationOfficer,
    )
    .await
    .expect("revoke communication officer");
    assert!(!has_role(&revoked, PlatformRole::CommunicationOfficer));
    assert!(has_role(&revoked, PlatformRole::DecisionMaker));

    // The history records each change.
    let export = identity
        .client
        .clone()
        .export_my_data(authed(proto::ExportMyDataRequest {}, &session.access_token))
        .await
        .expect("ExportMyData")
        .into_inner();
    let history: Vec<(i32, bool)> = export
        .role_history
        .iter()
        .map(|c| (c.role, c.granted))
        .collect();
    assert_eq!(
        history,
        [
            (PlatformRole::CommunicationOfficer as i32, true),
            (PlatformRole::DecisionMaker as i32, true),
            (PlatformRole::PlatformAdmin as i32, true),
            (PlatformRole::PlatformAdmin as i32, false),
            (PlatformRole::CommunicationOfficer as i32, false),
        ]
    );
    assert!(export.role_history.iter().all(|c| c.by == admin.id));
    identity.stop().await;
}

async fn the_core_team_is_capped(backend: Backend) {
    let identity = Identity::start_with(
        backend,
        IdentitySettings {
            core_team_max: 3,
            ..IdentitySettings::defaults()
        },
    )
    .await;
    let admin = identity.first_admin().await;
    let second = identity.resident("second-").await;
    let third = identity.resident("third-").await;
    let fourth = identity.resident("fourth-").await;
    for person in [&second, &third] {
        grant(
            &identity,
            &admin,
            &person.id,
            PlatformRole::PlatformAdmin as i32,
            false,
        )
        .await
        .expect("a seat in the core team");
    }
    let full = grant(
        &identity,
        &admin,
        &fourth.id,
        PlatformRole::PlatformAdmin as i32,
        false,
    )
    .await;
    refused(
        full,
        Code::FailedPrecondition,
        "a fourth admin with a cap of three",
    );
    let fourth_now = get_user(&identity, &admin.access, &fourth.id)
        .await
        .expect("GetUser");
    assert!(
        fourth_now.roles.is_empty(),
        "the refused grant left no role"
    );
    // Changing a member's reviewer flag takes no new seat.
    let reviewing = grant(
        &identity,
        &admin,
        &second.id,
        PlatformRole::PlatformAdmin as i32,
        true,
    )
    .await
    .expect("making a member a project reviewer");
    assert!(
        reviewing
            .roles
            .iter()
            .any(|g| g.role == PlatformRole::PlatformAdmin as i32 && g.project_reviewer)
    );
    // Other roles are not capped.
    grant(
        &identity,
        &admin,
        &fourth.id,
        PlatformRole::CommunicationOfficer as i32,
        false,
    )
    .await
    .expect("a communication officer while the core team is full");

    let seen = overview(&identity, &admin.access)
        .await
        .expect("GetGovernanceOverview");
    assert_eq!(seen.core_team_cap, 3);
    let team: BTreeSet<String> = seen.core_team.iter().map(|u| u.id.clone()).collect();
    assert_eq!(
        team,
        BTreeSet::from([admin.id.clone(), second.id.clone(), third.id.clone()])
    );
    assert!(warning_codes(&seen).contains(&"core_team_full"));
    assert_eq!(seen.communication_officers, 1);
    assert_eq!(seen.project_reviewers, 2, "the first admin and the second");

    // A freed seat can be taken.
    revoke(&identity, &admin, &third.id, PlatformRole::PlatformAdmin)
        .await
        .expect("revoke");
    grant(
        &identity,
        &admin,
        &fourth.id,
        PlatformRole::PlatformAdmin as i32,
        false,
    )
    .await
    .expect("the freed seat");
    identity.stop().await;
}

async fn the_last_admin_stays(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;

    let alone = overview(&identity, &admin.access)
        .await
        .expect("GetGovernanceOverview");
    assert_eq!(alone.core_team.len(), 1);
    assert!(
        warning_codes(&alone).contains(&"core_team_too_small"),
        "{:?}",
        alone.warnings
    );
    let last = revoke(&identity, &admin, &admin.id, PlatformRole::PlatformAdmin).await;
    refused(
        last,
        Code::FailedPrecondition,
        "revoking the only platform admin",
    );

    let colleague = identity.resident("colleague-").await;
    grant(
        &identity,
        &admin,
        &colleague.id,
        PlatformRole::PlatformAdmin as i32,
        false,
    )
    .await
    .expect("a second admin");
    let pair = overview(&identity, &admin.access)
        .await
        .expect("GetGovernanceOverview");
    assert_eq!(pair.core_team.len(), 2);
    assert!(
        !warning_codes(&pair).contains(&"core_team_too_small"),
        "{:?}",
        pair.warnings
    );

    // With two, one may go; then the other is the last.
    revoke(
        &identity,
        &colleague,
        &admin.id,
        PlatformRole::PlatformAdmin,
    )
    .await
    .expect("revoking one of two admins");
    let last = revoke(
        &identity,
        &colleague,
        &colleague.id,
        PlatformRole::PlatformAdmin,
    )
    .await;
    refused(
        last,
        Code::FailedPrecondition,
        "revoking the last platform admin",
    );
    let again = overview(&identity, &colleague.access)
        .await
        .expect("GetGovernanceOverview");
    assert!(warning_codes(&again).contains(&"core_team_too_small"));
    identity.stop().await;
}

async fn staff_roles_need_a_staff_address(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let current = policy(&identity).await;
    let updated = update_policy(
        &identity,
        &admin.access,
        Some(proto::RegistrationPolicy {
            staff_email_domains: vec!["Stad.Gent".to_owned()],
            ..current.clone()
        }),
        &current.etag,
    )
    .await
    .expect("UpdateRegistrationPolicy");
    assert_eq!(updated.staff_email_domains, ["stad.gent"]);

    let outsider = identity.register(&unique_email("outsider-")).await;
    for role in [
        PlatformRole::CommunicationOfficer,
        PlatformRole::DecisionMaker,
        PlatformRole::PlatformAdmin,
    ] {
        let outcome = grant(&identity, &admin, &outsider.id, role as i32, false).await;
        refused(
            outcome,
            Code::FailedPrecondition,
            "a staff role for an address outside the staff domains",
        );
    }
    let unchanged = get_user(&identity, &admin.access, &outsider.id)
        .await
        .expect("GetUser");
    assert!(unchanged.roles.is_empty());

    let insider = identity
        .register(&format!(
            "{}@stad.gent",
            inspraak_kit::testing::unique("insider-")
        ))
        .await;
    let promoted = grant(
        &identity,
        &admin,
        &insider.id,
        PlatformRole::CommunicationOfficer as i32,
        false,
    )
    .await
    .expect("a staff role for a staff address");
    assert!(has_role(&promoted, PlatformRole::CommunicationOfficer));
    identity.stop().await;
}

// --- departments ---

async fn departments_are_created_once(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;

    let created = create_department(&identity, &admin, "  Mobiliteit ", "request-1")
        .await
        .expect("CreateDepartment");
    assert_eq!(created.name, "Mobiliteit");
    assert!(!created.archived);
    assert!(created.member_ids.is_empty());
    assert!(created.created_at.is_some());
    let retried = create_department(&identity, &admin, "Mobiliteit", "request-1")
        .await
        .expect("a retry with the same request_id");
    assert_eq!(retried.id, created.id);
    assert_eq!(retried.etag, created.etag);
    assert_eq!(
        count_events(&identity, "identity.department.created.v1", &created.id).await,
        1,
        "a retry publishes nothing new"
    );

    let duplicate = create_department(&identity, &admin, "Mobiliteit", "request-2").await;
    refused(
        duplicate,
        Code::AlreadyExists,
        "a second department of one name",
    );
    let duplicate = create_department(&identity, &admin, "Mobiliteit", "").await;
    refused(
        duplicate,
        Code::AlreadyExists,
        "a second department of one name, no request id",
    );
    let empty = create_department(&identity, &admin, "   ", "").await;
    let status = refused(empty, Code::InvalidArgument, "a department without a name");
    assert_eq!(violated_fields(&status), ["name"]);
    let by_resident = identity
        .client
        .clone()
        .create_department(authed(
            proto::CreateDepartmentRequest {
                name: "Eigen dienst".to_owned(),
                request_id: String::new(),
            },
            &identity.resident("founder-").await.access,
        ))
        .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "CreateDepartment by a resident",
    );
    let listed = list_departments(&identity, false).await;
    assert_eq!(
        listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [created.id.as_str()]
    );
    identity.stop().await;
}

async fn departments_are_renamed_with_an_etag(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let department = create_department(&identity, &admin, "Cultuur", "")
        .await
        .expect("CreateDepartment");
    create_department(&identity, &admin, "Sport", "")
        .await
        .expect("CreateDepartment");
    let mut client = identity.client.clone();
    let rename = |id: &str, name: &str, etag: &str| {
        let request = authed(
            proto::UpdateDepartmentRequest {
                id: id.to_owned(),
                name: name.to_owned(),
                etag: etag.to_owned(),
            },
            &admin.access,
        );
        let mut client = client.clone();
        async move {
            client
                .update_department(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };

    let renamed = rename(&department.id, "Cultuur en Erfgoed", &department.etag)
        .await
        .expect("UpdateDepartment");
    assert_eq!(renamed.name, "Cultuur en Erfgoed");
    assert_ne!(renamed.etag, department.etag);
    let event = identity
        .event("identity.department.changed.v1", &department.id)
        .await;
    let payload =
        decode_payload::<events::DepartmentChanged>(&event).expect("a DepartmentChanged payload");
    assert_eq!(payload.name, "Cultuur en Erfgoed");

    let stale = rename(&department.id, "Erfgoed", &department.etag).await;
    refused(stale, Code::Aborted, "UpdateDepartment with a stale etag");
    let unknown = rename(&uuid::Uuid::now_v7().to_string(), "Erfgoed", "").await;
    refused(unknown, Code::NotFound, "UpdateDepartment of an unknown id");
    let malformed = rename("not-an-id", "Erfgoed", "").await;
    refused(
        malformed,
        Code::InvalidArgument,
        "UpdateDepartment of a malformed id",
    );
    let taken = rename(&department.id, "Sport", "").await;
    refused(taken, Code::AlreadyExists, "renaming to a name in use");
    let blank = rename(&department.id, "", "").await;
    refused(blank, Code::InvalidArgument, "renaming to nothing");
    let without_etag = rename(&department.id, "Erfgoed", "")
        .await
        .expect("UpdateDepartment without an etag");
    assert_eq!(without_etag.name, "Erfgoed");
    let by_resident = client
        .update_department(authed(
            proto::UpdateDepartmentRequest {
                id: department.id.clone(),
                name: "Overgenomen".to_owned(),
                etag: String::new(),
            },
            &identity.resident("taker-").await.access,
        ))
        .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "UpdateDepartment by a resident",
    );
    identity.stop().await;
}

/// Admins saving the same version at once: one wins, the others learn that
/// it changed (the etag holds under concurrency, as UpdateMe's does). Each
/// attempt comes over its own connection, so the server really runs them side
/// by side; several rounds, since a race needs luck to show.
async fn concurrent_renames_with_one_etag_let_one_win(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let mut outcomes = Vec::new();
    for round in 0..30 {
        let department = create_department(&identity, &admin, &format!("Wonen {round}"), "")
            .await
            .expect("CreateDepartment");
        let mut attempts = Vec::new();
        for i in 0..16 {
            let channel =
                tonic::transport::Channel::from_shared(format!("http://{}", identity.running.addr))
                    .expect("uri")
                    .connect()
                    .await
                    .expect("connect");
            let mut client =
                inspraak_proto::identity::v1::identity_client::IdentityClient::new(channel);
            let request = authed(
                proto::UpdateDepartmentRequest {
                    id: department.id.clone(),
                    name: format!("Wonen {round}.{i}"),
                    etag: department.etag.clone(),
                },
                &admin.access,
            );
            attempts.push(tokio::spawn(async move {
                client.update_department(request).await
            }));
        }
        let mut won = 0;
        let mut aborted = 0;
        for attempt in attempts {
            match attempt.await.expect("the task ran") {
                Ok(_) => won += 1,
                Err(status) if status.code() == Code::Aborted => aborted += 1,
                Err(status) => panic!("UpdateDepartment failed otherwise: {status:?}"),
            }
        }
        outcomes.push((won, aborted));
    }
    assert!(
        outcomes.iter().all(|&outcome| outcome == (1, 15)),
        "sixteen renames with one etag, per round (succeeded, aborted): {outcomes:?}; \
         exactly one may succeed"
    );
    identity.stop().await;
}

async fn departments_are_archived_once(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("archivist-").await;
    let kept = create_department(&identity, &admin, "Groen", "")
        .await
        .expect("CreateDepartment");
    let old = create_department(&identity, &admin, "Oude dienst", "")
        .await
        .expect("CreateDepartment");

    let archived = archive_department(&identity, &admin, &old.id)
        .await
        .expect("ArchiveDepartment");
    assert!(archived.archived);
    let twice = archive_department(&identity, &admin, &old.id).await;
    refused(twice, Code::FailedPrecondition, "archiving twice");
    let unknown = archive_department(&identity, &admin, &uuid::Uuid::now_v7().to_string()).await;
    refused(unknown, Code::NotFound, "archiving an unknown department");
    let by_resident = archive_department(&identity, &person, &kept.id).await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "ArchiveDepartment by a resident",
    );

    let active = list_departments(&identity, false).await;
    assert_eq!(
        active.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [kept.id.as_str()],
        "archived departments are hidden"
    );
    let all = list_departments(&identity, true).await;
    let ids: BTreeSet<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from([kept.id.as_str(), old.id.as_str()]));
    assert!(
        all.iter()
            .find(|d| d.id == old.id)
            .is_some_and(|d| d.archived)
    );

    let joining = add_member(&identity, &admin, &old.id, &person.id).await;
    refused(
        joining,
        Code::FailedPrecondition,
        "joining an archived department",
    );
    identity.stop().await;
}

/// ListDepartments answers "active first", also with archived ones included.
async fn listed_departments_put_active_ones_first(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let archived = create_department(&identity, &admin, "Archief A", "")
        .await
        .expect("CreateDepartment");
    archive_department(&identity, &admin, &archived.id)
        .await
        .expect("ArchiveDepartment");
    create_department(&identity, &admin, "Zorg", "")
        .await
        .expect("CreateDepartment");
    let all = list_departments(&identity, true).await;
    let order: Vec<(&str, bool)> = all.iter().map(|d| (d.name.as_str(), d.archived)).collect();
    assert_eq!(
        order,
        [("Zorg", false), ("Archief A", true)],
        "ListDepartments(include_archived) should list active departments first"
    );
    identity.stop().await;
}

async fn department_members_come_and_go(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("member-").await;
    let first = create_department(&identity, &admin, "Onderwijs", "")
        .await
        .expect("CreateDepartment");
    let second = create_department(&identity, &admin, "Economie", "")
        .await
        .expect("CreateDepartment");

    let joined = add_member(&identity, &admin, &first.id, &person.id)
        .await
        .expect("AddDepartmentMember");
    assert_eq!(joined.member_ids, std::slice::from_ref(&person.id));
    let event = identity
        .event("identity.department.changed.v1", &first.id)
        .await;
    let payload =
        decode_payload::<events::DepartmentChanged>(&event).expect("a DepartmentChanged payload");
    assert_eq!(payload.member_ids, std::slice::from_ref(&person.id));
    let again = add_member(&identity, &admin, &first.id, &person.id)
        .await
        .expect("adding a member twice");
    assert_eq!(
        again.member_ids,
        std::slice::from_ref(&person.id),
        "idempotent"
    );
    add_member(&identity, &admin, &second.id, &person.id)
        .await
        .expect("AddDepartmentMember");

    let unknown_user = add_member(
        &identity,
        &admin,
        &first.id,
        &uuid::Uuid::now_v7().to_string(),
    )
    .await;
    refused(unknown_user, Code::NotFound, "adding an unknown person");
    let unknown_department = add_member(
        &identity,
        &admin,
        &uuid::Uuid::now_v7().to_string(),
        &person.id,
    )
    .await;
    refused(
        unknown_department,
        Code::NotFound,
        "adding to an unknown department",
    );
    let by_resident = add_member(&identity, &person, &first.id, &person.id).await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "AddDepartmentMember by a resident",
    );

    // The membership shows in the profile and, after a new sign-in, in the
    // access token.
    let me = get_me(&identity, &person.access).await.expect("GetMe");
    let expected = BTreeSet::from([first.id.clone(), second.id.clone()]);
    assert_eq!(
        me.department_ids.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    let session = identity.login(&person.email).await;
    assert_eq!(
        string_set(&claims(&session.access_token)["departments"]),
        expected
    );
    assert!(
        string_set(&claims(&person.access)["departments"]).is_empty(),
        "the token from before the membership is as it was"
    );

    let outsider = identity.resident("outsider-").await;
    let not_member = remove_member(&identity, &admin, &first.id, &outsider.id).await;
    refused(
        not_member,
        Code::NotFound,
        "removing someone who is no member",
    );
    let by_resident = remove_member(&identity, &person, &first.id, &person.id).await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "RemoveDepartmentMember by a resident",
    );
    let left = remove_member(&identity, &admin, &first.id, &person.id)
        .await
        .expect("RemoveDepartmentMember");
    assert!(left.member_ids.is_empty());
    let twice = remove_member(&identity, &admin, &first.id, &person.id).await;
    refused(twice, Code::NotFound, "removing a member twice");
    let session = identity.login(&person.email).await;
    assert_eq!(
        string_set(&claims(&session.access_token)["departments"]),
        BTreeSet::from([second.id.clone()])
    );
    identity.stop().await;
}

// --- the registration policy ---

async fn the_registration_policy_shapes_registration(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let earlier = identity.resident("earlier-").await;

    // Public, and the defaults until an admin sets one.
    let defaults = policy(&identity).await;
    assert_eq!(defaults.etag, "policy-v0");
    assert_eq!(defaults.version, 0);
    assert!(defaults.updated_at.is_none());
    assert!(defaults.fields.is_empty());
    assert!(defaults.confirmation_required);
    assert_eq!(
        defaults.unconfirmed_access,
        proto::UnconfirmedAccess::ReadOnly as i32
    );
    assert!(defaults.staff_email_domains.is_empty());
    assert_eq!(defaults.min_password_length, 10);

    let wanted = district_policy(defaults.clone());
    let by_resident = update_policy(
        &identity,
        &earlier.access,
        Some(wanted.clone()),
        "policy-v0",
    )
    .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "UpdateRegistrationPolicy by a resident",
    );
    let stale = update_policy(&identity, &admin.access, Some(wanted.clone()), "policy-v7").await;
    refused(
        stale,
        Code::Aborted,
        "UpdateRegistrationPolicy with a stale etag",
    );
    let no_etag = update_policy(&identity, &admin.access, Some(wanted.clone()), "").await;
    refused(
        no_etag,
        Code::Aborted,
        "UpdateRegistrationPolicy without an etag",
    );
    let missing = update_policy(&identity, &admin.access, None, "policy-v0").await;
    refused(
        missing,
        Code::InvalidArgument,
        "UpdateRegistrationPolicy without a policy",
    );
    let mut invalid = wanted.clone();
    invalid.fields[0].key = "District".to_owned();
    invalid.fields[1].min = 2026.0;
    invalid.fields[1].max = 1900.0;
    invalid.fields.push(proto::RegistrationField {
        key: "languages".to_owned(),
        r#type: proto::FieldType::MultipleChoice as i32,
        ..Default::default()
    });
    invalid.min_password_length = 4;
    invalid.staff_email_domains = vec!["not a domain".to_owned()];
    let status = refused(
        update_policy(&identity, &admin.access, Some(invalid), "policy-v0").await,
        Code::InvalidArgument,
        "an invalid policy",
    );
    assert_eq!(
        violated_fields(&status),
        [
            "policy.fields[0].key",
            "policy.fields[1].type",
            "policy.fields[2].type",
            "policy.min_password_length",
            "policy.staff_email_domains[0]",
        ]
    );
    assert_eq!(policy(&identity).await.etag, "policy-v0", "nothing saved");

    let saved = update_policy(&identity, &admin.access, Some(wanted.clone()), "policy-v0")
        .await
        .expect("UpdateRegistrationPolicy");
    assert_eq!(saved.version, 1);
    assert_eq!(saved.etag, "policy-v1");
    assert!(saved.updated_at.is_some());
    assert_eq!(saved.fields, wanted.fields);
    let read = policy(&identity).await;
    assert_eq!(
        proto::RegistrationPolicy {
            updated_at: None,
            ..read
        },
        proto::RegistrationPolicy {
            updated_at: None,
            ..saved.clone()
        },
        "GetRegistrationPolicy returns what was saved"
    );
    identity
        .event("identity.registration_policy.changed.v1", "current")
        .await;
    let replayed = update_policy(&identity, &admin.access, Some(wanted.clone()), "policy-v0").await;
    refused(replayed, Code::Aborted, "saving over a newer policy");

    // Registration now asks for a district.
    let mut client = identity.client.clone();
    let without = client
        .register(registration(&unique_email("nodistrict-"), PASSWORD))
        .await;
    let status = refused(
        without,
        Code::InvalidArgument,
        "registering without the required district",
    );
    assert_eq!(violated_fields(&status), ["fields[district]"]);
    let mut bad = registration(&unique_email("baddistrict-"), PASSWORD);
    bad.fields = HashMap::from([
        ("district".to_owned(), choice("oost")),
        ("birth_year".to_owned(), number(1850.0)),
    ]);
    let status = refused(
        client.register(bad).await,
        Code::InvalidArgument,
        "registering with answers out of bounds",
    );
    assert_eq!(
        violated_fields(&status),
        ["fields[birth_year]", "fields[district]"]
    );

    let email = unique_email("district-");
    let mut good = registration(&email, PASSWORD);
    good.fields = HashMap::from([
        ("district".to_owned(), choice("noord")),
        ("birth_year".to_owned(), number(1984.0)),
    ]);
    let registered = client
        .register(good)
        .await
        .expect("registering with a district")
        .into_inner()
        .user
        .expect("user");
    let session = identity.login(&email).await;
    let me = get_me(&identity, &session.access_token)
        .await
        .expect("GetMe");
    assert_eq!(me.id, registered.id);
    assert_eq!(
        me.fields,
        HashMap::from([
            ("district".to_owned(), choice("noord")),
            ("birth_year".to_owned(), number(1984.0)),
        ])
    );

    // Someone who registered before answers through UpdateMe.
    let updated = update_me(
        &identity,
        &earlier.access,
        proto::UpdateMeRequest {
            fields: HashMap::from([("district".to_owned(), choice("zuid"))]),
            update_mask: mask(&["fields"]),
            ..Default::default()
        },
    )
    .await
    .expect("UpdateMe fields");
    assert_eq!(
        updated.fields,
        HashMap::from([("district".to_owned(), choice("zuid"))])
    );

    // Longer passwords.
    let stricter = update_policy(
        &identity,
        &admin.access,
        Some(proto::RegistrationPolicy {
            min_password_length: 20,
            ..wanted.clone()
        }),
        "policy-v1",
    )
    .await
    .expect("raising the minimum password length");
    assert_eq!(stricter.version, 2);
    let mut short = registration(&unique_email("shortpw-"), "nineteen characters");
    short.fields = HashMap::from([("district".to_owned(), choice("centrum"))]);
    let status = refused(
        client.register(short).await,
        Code::InvalidArgument,
        "a 19-character password with a minimum of 20",
    );
    assert_eq!(violated_fields(&status), ["password"]);
    let mut long = registration(&unique_email("longpw-"), "twenty characters!!!");
    long.fields = HashMap::from([("district".to_owned(), choice("centrum"))]);
    client
        .register(long)
        .await
        .expect("a 20-character password with a minimum of 20");
    identity.stop().await;
}

// --- signing keys ---

async fn only_admins_rotate_the_signing_key(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let person = identity.resident("rotator-").await;
    let mut client = identity.client.clone();
    let by_resident = client
        .rotate_signing_key(authed(proto::RotateSigningKeyRequest {}, &person.access))
        .await;
    refused(
        by_resident,
        Code::PermissionDenied,
        "RotateSigningKey by a resident",
    );
    let anonymous = client
        .rotate_signing_key(proto::RotateSigningKeyRequest {})
        .await;
    refused(
        anonymous,
        Code::Unauthenticated,
        "RotateSigningKey without a token",
    );
    let rotated = client
        .rotate_signing_key(authed(proto::RotateSigningKeyRequest {}, &admin.access))
        .await
        .expect("RotateSigningKey")
        .into_inner();
    assert!(!rotated.kid.is_empty());
    assert!(rotated.previous_verify_until.is_some());
    let jwks = identity
        .keys
        .clone()
        .get_jwks(proto::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner();
    assert!(jwks.keys.iter().any(|k| k.kid == rotated.kid));
    identity.stop().await;
}

/// The only admin cannot leave the platform without one by deleting their
/// account; with a second admin, they can.
async fn the_last_admin_cannot_delete_their_account(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let mut client = identity.client.clone();
    refused(
        client
            .delete_me(authed(
                proto::DeleteMeRequest {
                    password: PASSWORD.to_owned(),
                },
                &admin.access,
            ))
            .await,
        Code::FailedPrecondition,
        "the last admin deleting their account",
    );
    identity
        .staff(&admin, PlatformRole::PlatformAdmin, "second-admin-")
        .await;
    client
        .delete_me(authed(
            proto::DeleteMeRequest {
                password: PASSWORD.to_owned(),
            },
            &admin.access,
        ))
        .await
        .expect("with another admin, the first may leave");
    identity.stop().await;
}

/// Departments are public; who works in them is not.
async fn department_members_are_shown_to_admins_only(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let member = identity.resident("member-").await;
    let mut client = identity.client.clone();
    let department = client
        .create_department(authed(
            proto::CreateDepartmentRequest {
                name: "Sociale zaken".to_owned(),
                request_id: String::new(),
            },
            &admin.access,
        ))
        .await
        .expect("create")
        .into_inner();
    client
        .add_department_member(authed(
            proto::AddDepartmentMemberRequest {
                department_id: department.id.clone(),
                user_id: member.id.clone(),
            },
            &admin.access,
        ))
        .await
        .expect("add member");
    let anonymous = client
        .list_departments(proto::ListDepartmentsRequest::default())
        .await
        .expect("public list")
        .into_inner();
    assert_eq!(anonymous.departments.len(), 1);
    assert!(
        anonymous.departments[0].member_ids.is_empty(),
        "members shown to an anonymous caller"
    );
    let resident = client
        .list_departments(authed(
            proto::ListDepartmentsRequest::default(),
            &member.access,
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(
        resident.departments[0].member_ids.is_empty(),
        "members shown to a resident"
    );
    let admin_view = client
        .list_departments(authed(
            proto::ListDepartmentsRequest::default(),
            &admin.access,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        admin_view.departments[0].member_ids,
        std::slice::from_ref(&member.id)
    );
    identity.stop().await;
}

inspraak_host::on_both_databases!(
    department_members_are_shown_to_admins_only,
    the_last_admin_cannot_delete_their_account,
    a_person_reads_and_updates_their_profile,
    an_export_holds_the_person_and_their_role_history,
    deleting_an_account_anonymises_it,
    people_look_up_themselves_and_admins_anyone,
    admins_page_through_and_filter_people,
    a_query_matches_addresses_with_underscores,
    admins_block_and_unblock,
    a_block_with_an_end_expires,
    an_ended_block_no_longer_reads_as_blocked,
    admins_grant_and_revoke_roles,
    the_core_team_is_capped,
    the_last_admin_stays,
    staff_roles_need_a_staff_address,
    departments_are_created_once,
    departments_are_renamed_with_an_etag,
    concurrent_renames_with_one_etag_let_one_win,
    departments_are_archived_once,
    listed_departments_put_active_ones_first,
    department_members_come_and_go,
    the_registration_policy_shapes_registration,
    only_admins_rotate_the_signing_key,
);
