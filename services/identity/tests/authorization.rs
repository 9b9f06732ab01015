//! Who may call what: every RPC of `inspraak.identity.v1.Identity` by every
//! kind of caller, against the real server on PostgreSQL.
//!
//! A cell is *allowed* when the call gets past authorisation: any status but
//! UNAUTHENTICATED and PERMISSION_DENIED (requests are deliberately small, so
//! INVALID_ARGUMENT or NOT_FOUND still mean "you may ask"). A cell is *denied*
//! when it gets UNAUTHENTICATED (anonymous callers) or PERMISSION_DENIED
//! (everyone else). Requests aim at other people's resources wherever the call
//! takes a target, and avoid changes that would spoil later cells.

mod support;

use std::collections::BTreeSet;

use inspraak_identity::IdentitySettings;
use inspraak_proto::identity::v1 as proto;
use prost::Message;
use support::{Backend, Identity, PASSWORD, Person, PlatformRole, authed, unique_email};
use tonic::{Code, Request, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Resident,
    /// A second resident, aiming at the first resident's resources.
    OtherResident,
    CommunicationOfficer,
    DecisionMaker,
    Admin,
    Blocked,
    Service,
}

/// The matrix's columns, in order.
const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::Resident,
    Caller::OtherResident,
    Caller::CommunicationOfficer,
    Caller::DecisionMaker,
    Caller::Admin,
    Caller::Blocked,
    Caller::Service,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Allowed,
    Denied,
}

const A: Expected = Expected::Allowed;
const D: Expected = Expected::Denied;

/// Every RPC, and for each caller in the order of [`CALLERS`] — anonymous,
/// resident, other resident, communication officer, decision-maker, admin,
/// blocked, service — whether the call is allowed.
#[rustfmt::skip]
const MATRIX: &[(&str, [Expected; 8])] = &[
    //                            anon res oth off dec adm blk svc
    // public
    ("Register",                 [A,  A,  A,  A,  A,  A,  A,  A]),
    ("ConfirmEmail",             [A,  A,  A,  A,  A,  A,  A,  A]),
    ("ResendConfirmation",       [A,  A,  A,  A,  A,  A,  A,  A]),
    ("Login",                    [A,  A,  A,  A,  A,  A,  A,  A]),
    ("Refresh",                  [A,  A,  A,  A,  A,  A,  A,  A]),
    ("Logout",                   [A,  A,  A,  A,  A,  A,  A,  A]),
    ("RequestPasswordReset",     [A,  A,  A,  A,  A,  A,  A,  A]),
    ("ResetPassword",            [A,  A,  A,  A,  A,  A,  A,  A]),
    ("IssueServiceToken",        [A,  A,  A,  A,  A,  A,  A,  A]),
    ("ListDepartments",          [A,  A,  A,  A,  A,  A,  A,  A]),
    ("GetRegistrationPolicy",    [A,  A,  A,  A,  A,  A,  A,  A]),
    // self: people only, each on their own account
    ("ChangePassword",           [D,  A,  A,  A,  A,  A,  D,  D]),
    ("GetMe",                    [D,  A,  A,  A,  A,  A,  D,  D]),
    ("UpdateMe",                 [D,  A,  A,  A,  A,  A,  D,  D]),
    ("DeleteMe",                 [D,  A,  A,  A,  A,  A,  D,  D]),
    ("ExportMyData",             [D,  A,  A,  A,  A,  A,  D,  D]),
    // the first resident, looked up: oneself, admins and services
    ("GetUser",                  [D,  A,  D,  D,  D,  A,  D,  A]),
    // admins and services
    ("ListUsers",                [D,  D,  D,  D,  D,  A,  D,  A]),
    // admins
    ("BlockUser",                [D,  D,  D,  D,  D,  A,  D,  D]),
    ("UnblockUser",              [D,  D,  D,  D,  D,  A,  D,  D]),
    ("GrantRole",                [D,  D,  D,  D,  D,  A,  D,  D]),
    ("RevokeRole",               [D,  D,  D,  D,  D,  A,  D,  D]),
    ("GetGovernanceOverview",    [D,  D,  D,  D,  D,  A,  D,  D]),
    ("CreateDepartment",         [D,  D,  D,  D,  D,  A,  D,  D]),
    ("UpdateDepartment",         [D,  D,  D,  D,  D,  A,  D,  D]),
    ("ArchiveDepartment",        [D,  D,  D,  D,  D,  A,  D,  D]),
    ("AddDepartmentMember",      [D,  D,  D,  D,  D,  A,  D,  D]),
    ("RemoveDepartmentMember",   [D,  D,  D,  D,  D,  A,  D,  D]),
    ("UpdateRegistrationPolicy", [D,  D,  D,  D,  D,  A,  D,  D]),
    ("RotateSigningKey",         [D,  D,  D,  D,  D,  A,  D,  D]),
];

const SERVICE_CLIENT: &str = "matrix-service";

/// The people, tokens and targets the cells use.
struct World {
    identity: Identity,
    service_secret: String,
    admin: Person,
    resident: Person,
    other: Person,
    officer: Person,
    decision_maker: Person,
    blocked: Person,
    service_token: String,
    /// Signs in for Login, Refresh and Logout cells.
    login_email: String,
    /// BlockUser aims here.
    block_target: String,
    /// Blocked from the start; UnblockUser aims here.
    unblock_target: String,
    /// GrantRole, RevokeRole and AddDepartmentMember aim here.
    role_target: String,
    /// A member of `department` from the start; RemoveDepartmentMember aims here.
    member_target: String,
    department: String,
    archive_target: String,
}

impl World {
    async fn build() -> Self {
        let service_secret = "m".repeat(40);
        let settings = IdentitySettings {
            service_clients: vec![(
                SERVICE_CLIENT.to_owned(),
                secrecy::SecretString::from(service_secret.clone()),
            )],
            ..IdentitySettings::defaults()
        };
        let identity = Identity::start_with(Backend::Postgres, settings).await;
        let admin = identity.first_admin().await;
        let resident = identity.resident("resident-").await;
        let other = identity.resident("other-").await;
        let officer = identity
            .staff(&admin, PlatformRole::CommunicationOfficer, "officer-")
            .await;
        let decision_maker = identity
            .staff(&admin, PlatformRole::DecisionMaker, "decider-")
            .await;
        let blocked = identity.resident("blocked-").await;
        let service_token = identity
            .client
            .clone()
            .issue_service_token(proto::IssueServiceTokenRequest {
                client_id: SERVICE_CLIENT.to_owned(),
                client_secret: service_secret.clone(),
            })
            .await
            .expect("a service token")
            .into_inner()
            .access_token;
        let login_email = identity.resident("signing-in-").await.email;
        let block_target = identity.resident("to-block-").await.id;
        let unblock_target = identity.resident("to-unblock-").await.id;
        let role_target = identity.resident("to-promote-").await.id;
        let member_target = identity.resident("to-remove-").await.id;

        let mut client = identity.client.clone();
        for id in [&blocked.id, &unblock_target] {
            client
                .block_user(authed(
                    proto::BlockUserRequest {
                        id: id.clone(),
                        reason: "authorisation matrix".to_owned(),
                        until: None,
                    },
                    &admin.access,
                ))
                .await
                .expect("BlockUser while setting up");
        }
        let department = |name: &'static str| {
            let request = authed(
                proto::CreateDepartmentRequest {
                    name: name.to_owned(),
                    request_id: String::new(),
                },
                &admin.access,
            );
            let mut client = client.clone();
            async move {
                client
                    .create_department(request)
                    .await
                    .expect("CreateDepartment while setting up")
                    .into_inner()
                    .id
            }
        };
        let department_id = department("Matrix").await;
        let archive_target = department("Matrix archive").await;
        client
            .add_department_member(authed(
                proto::AddDepartmentMemberRequest {
                    department_id: department_id.clone(),
                    user_id: member_target.clone(),
                },
                &admin.access,
            ))
            .await
            .expect("AddDepartmentMember while setting up");

        Self {
            identity,
            service_secret,
            admin,
            resident,
            other,
            officer,
            decision_maker,
            blocked,
            service_token,
            login_email,
            block_target,
            unblock_target,
            role_target,
            member_target,
            department: department_id,
            archive_target,
        }
    }

    fn token(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::Anonymous => None,
            Caller::Resident => Some(&self.resident.access),
            Caller::OtherResident => Some(&self.other.access),
            Caller::CommunicationOfficer => Some(&self.officer.access),
            Caller::DecisionMaker => Some(&self.decision_maker.access),
            Caller::Admin => Some(&self.admin.access),
            Caller::Blocked => Some(&self.blocked.access),
            Caller::Service => Some(&self.service_token),
        }
    }

    /// A fresh session of the sign-in account, for Refresh and Logout.
    async fn fresh_refresh_token(&self) -> String {
        self.identity.login(&self.login_email).await.refresh_token
    }

    /// Calls `rpc` as `caller`; only the status matters.
    async fn call(&self, rpc: &str, caller: Caller) -> Result<(), Status> {
        let token = self.token(caller);
        macro_rules! request {
            ($message:expr) => {
                as_caller($message, token)
            };
        }
        let mut c = self.identity.client.clone();
        match rpc {
            "Register" => c
                .register(request!(proto::RegisterRequest {
                    email: unique_email("matrix-"),
                    password: PASSWORD.to_owned(),
                    display_name: "Matrix Registrant".to_owned(),
                    locale: "nl".to_owned(),
                    fields: Default::default(),
                }))
                .await
                .map(drop),
            "ConfirmEmail" => c
                .confirm_email(request!(proto::ConfirmEmailRequest {
                    email: unique_email("nobody-"),
                    code: "00000000".to_owned(),
                }))
                .await
                .map(drop),
            "ResendConfirmation" => c
                .resend_confirmation(request!(proto::ResendConfirmationRequest {
                    email: unique_email("nobody-"),
                }))
                .await
                .map(drop),
            "Login" => c
                .login(request!(proto::LoginRequest {
                    email: self.login_email.clone(),
                    password: PASSWORD.to_owned(),
                }))
                .await
                .map(drop),
            "Refresh" => {
                let refresh_token = self.fresh_refresh_token().await;
                c.refresh(request!(proto::RefreshRequest { refresh_token }))
                    .await
                    .map(drop)
            }
            "Logout" => {
                let refresh_token = self.fresh_refresh_token().await;
                c.logout(request!(proto::LogoutRequest { refresh_token }))
                    .await
                    .map(drop)
            }
            "ChangePassword" => c
                .change_password(request!(proto::ChangePasswordRequest {
                    // Wrong on purpose: no one's password changes.
                    current_password: "not the current password".to_owned(),
                    new_password: "a new long enough passphrase".to_owned(),
                }))
                .await
                .map(drop),
            "RequestPasswordReset" => c
                .request_password_reset(request!(proto::RequestPasswordResetRequest {
                    email: unique_email("nobody-"),
                }))
                .await
                .map(drop),
            "ResetPassword" => c
                .reset_password(request!(proto::ResetPasswordRequest {
                    email: unique_email("nobody-"),
                    code: "00000000".to_owned(),
                    new_password: "a new long enough passphrase".to_owned(),
                }))
                .await
                .map(drop),
            "IssueServiceToken" => c
                .issue_service_token(request!(proto::IssueServiceTokenRequest {
                    client_id: SERVICE_CLIENT.to_owned(),
                    client_secret: self.service_secret.clone(),
                }))
                .await
                .map(drop),
            "GetMe" => c.get_me(request!(proto::GetMeRequest {})).await.map(drop),
            "UpdateMe" => c
                .update_me(request!(proto::UpdateMeRequest {
                    display_name: display_name_set_by(caller),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["display_name".to_owned()],
                    }),
                    ..Default::default()
                }))
                .await
                .map(drop),
            "DeleteMe" => c
                .delete_me(request!(proto::DeleteMeRequest {
                    // Wrong on purpose: no account is deleted.
                    password: "not the password".to_owned(),
                }))
                .await
                .map(drop),
            "ExportMyData" => c
                .export_my_data(request!(proto::ExportMyDataRequest {}))
                .await
                .map(drop),
            "GetUser" => c
                .get_user(request!(proto::GetUserRequest {
                    id: self.resident.id.clone(),
                }))
                .await
                .map(drop),
            "ListUsers" => c
                .list_users(request!(proto::ListUsersRequest::default()))
                .await
                .map(drop),
            "BlockUser" => c
                .block_user(request!(proto::BlockUserRequest {
                    id: self.block_target.clone(),
                    reason: "authorisation matrix".to_owned(),
                    until: None,
                }))
                .await
                .map(drop),
            "UnblockUser" => c
                .unblock_user(request!(proto::UnblockUserRequest {
                    id: self.unblock_target.clone(),
                }))
                .await
                .map(drop),
            "GrantRole" => c
                .grant_role(request!(proto::GrantRoleRequest {
                    user_id: self.role_target.clone(),
                    role: PlatformRole::DecisionMaker as i32,
                    project_reviewer: false,
                }))
                .await
                .map(drop),
            "RevokeRole" => c
                .revoke_role(request!(proto::RevokeRoleRequest {
                    user_id: self.role_target.clone(),
                    role: PlatformRole::DecisionMaker as i32,
                }))
                .await
                .map(drop),
            "GetGovernanceOverview" => c
                .get_governance_overview(request!(proto::GetGovernanceOverviewRequest {}))
                .await
                .map(drop),
            "ListDepartments" => c
                .list_departments(request!(proto::ListDepartmentsRequest {
                    include_archived: true,
                }))
                .await
                .map(drop),
            "CreateDepartment" => c
                .create_department(request!(proto::CreateDepartmentRequest {
                    name: inspraak_kit::testing::unique("Matrix "),
                    request_id: String::new(),
                }))
                .await
                .map(drop),
            "UpdateDepartment" => c
                .update_department(request!(proto::UpdateDepartmentRequest {
                    id: self.department.clone(),
                    name: inspraak_kit::testing::unique("Matrix "),
                    etag: String::new(),
                }))
                .await
                .map(drop),
            "ArchiveDepartment" => c
                .archive_department(request!(proto::ArchiveDepartmentRequest {
                    id: self.archive_target.clone(),
                }))
                .await
                .map(drop),
            "AddDepartmentMember" => c
                .add_department_member(request!(proto::AddDepartmentMemberRequest {
                    department_id: self.department.clone(),
                    user_id: self.role_target.clone(),
                }))
                .await
                .map(drop),
            "RemoveDepartmentMember" => c
                .remove_department_member(request!(proto::RemoveDepartmentMemberRequest {
                    department_id: self.department.clone(),
                    user_id: self.member_target.clone(),
                }))
                .await
                .map(drop),
            "GetRegistrationPolicy" => c
                .get_registration_policy(request!(proto::GetRegistrationPolicyRequest {}))
                .await
                .map(drop),
            "UpdateRegistrationPolicy" => {
                // The policy in force, saved again unchanged.
                let current = self
                    .identity
                    .client
                    .clone()
                    .get_registration_policy(proto::GetRegistrationPolicyRequest {})
                    .await
                    .expect("GetRegistrationPolicy")
                    .into_inner();
                let etag = current.etag.clone();
                c.update_registration_policy(request!(proto::UpdateRegistrationPolicyRequest {
                    policy: Some(current),
                    etag,
                }))
                .await
                .map(drop)
            }
            "RotateSigningKey" => c
                .rotate_signing_key(request!(proto::RotateSigningKeyRequest {}))
                .await
                .map(drop),
            other => panic!("the matrix names {other:?}, which this test cannot call"),
        }
    }
}

fn as_caller<T>(message: T, token: Option<&str>) -> Request<T> {
    match token {
        Some(token) => authed(message, token),
        None => Request::new(message),
    }
}

fn display_name_set_by(caller: Caller) -> String {
    format!("Matrix {caller:?}")
}

/// The methods of `inspraak.identity.v1.Identity`, from the compiled contract.
fn identity_methods() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(inspraak_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptor set");
    let file = set
        .file
        .iter()
        .find(|f| {
            f.package() == "inspraak.identity.v1"
                && f.service.iter().any(|s| s.name() == "Identity")
        })
        .expect("the identity contract");
    let service = file
        .service
        .iter()
        .find(|s| s.name() == "Identity")
        .expect("the Identity service");
    service.method.iter().map(|m| m.name().to_owned()).collect()
}

/// What a status says about authorisation.
fn judge(caller: Caller, outcome: &Result<(), Status>) -> Result<Expected, String> {
    let Err(status) = outcome else {
        return Ok(Expected::Allowed);
    };
    match status.code() {
        Code::Unauthenticated if caller == Caller::Anonymous => Ok(Expected::Denied),
        Code::PermissionDenied if caller != Caller::Anonymous => Ok(Expected::Denied),
        Code::Unauthenticated | Code::PermissionDenied => Err(format!(
            "denied with the wrong status for {caller:?}: {status:?}"
        )),
        // The call broke rather than answered: authorisation was not judged.
        Code::Internal | Code::Unknown | Code::Unavailable | Code::DeadlineExceeded => {
            Err(format!("failed instead of answering: {status:?}"))
        }
        _ => Ok(Expected::Allowed),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller() {
    // The matrix covers the contract exactly: 30 RPCs, 8 callers each.
    let in_matrix: BTreeSet<String> = MATRIX.iter().map(|(rpc, _)| (*rpc).to_owned()).collect();
    assert_eq!(in_matrix.len(), MATRIX.len(), "an RPC is listed twice");
    assert_eq!(
        in_matrix,
        identity_methods(),
        "the matrix and the Identity service differ"
    );
    assert_eq!(MATRIX.len(), 30);

    let world = World::build().await;
    let mut cells = 0;
    let mut mismatches = Vec::new();
    for (rpc, row) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(row) {
            cells += 1;
            let outcome = world.call(rpc, *caller).await;
            match judge(*caller, &outcome) {
                Ok(seen) if seen == *expected => {}
                Ok(seen) => mismatches.push(format!(
                    "{rpc} by {caller:?}: expected {expected:?}, got {seen:?} ({})",
                    match &outcome {
                        Ok(()) => "OK".to_owned(),
                        Err(status) => format!("{:?}: {}", status.code(), status.message()),
                    }
                )),
                Err(problem) => mismatches.push(format!("{rpc} by {caller:?}: {problem}")),
            }
        }
    }
    println!("authorisation matrix: {cells} cells checked");
    assert_eq!(cells, 240);
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells are wrong:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );

    a_resident_never_reaches_another_persons_data(&world).await;
    world.identity.stop().await;
}

/// Explicitly, beyond the statuses: one resident cannot read or change the
/// other's private data, and a refusal gives nothing away.
async fn a_resident_never_reaches_another_persons_data(world: &World) {
    let identity = &world.identity;
    let resident = &world.resident;
    let other = &world.other;
    let mut client = identity.client.clone();

    // Looking the first resident up: refused, and the refusal names nothing.
    for intruder in [other, &world.officer, &world.decision_maker] {
        let status = client
            .get_user(authed(
                proto::GetUserRequest {
                    id: resident.id.clone(),
                },
                &intruder.access,
            ))
            .await
            .expect_err("GetUser of another resident");
        assert_eq!(status.code(), Code::PermissionDenied);
        let said = format!("{status:?}");
        assert!(
            !said.contains(&resident.email) && !said.contains("Matrix"),
            "the refusal leaks the profile: {said}"
        );
    }
    let listing = client
        .list_users(authed(
            proto::ListUsersRequest {
                query: resident.email.clone(),
                ..Default::default()
            },
            &other.access,
        ))
        .await
        .expect_err("ListUsers by a resident");
    assert_eq!(listing.code(), Code::PermissionDenied);

    // Each UpdateMe in the matrix changed its caller's own profile only.
    let mine = client
        .get_me(authed(proto::GetMeRequest {}, &resident.access))
        .await
        .expect("GetMe of the first resident")
        .into_inner();
    assert_eq!(mine.id, resident.id);
    assert_eq!(mine.email, resident.email);
    assert_eq!(mine.display_name, display_name_set_by(Caller::Resident));
    let theirs = client
        .get_me(authed(proto::GetMeRequest {}, &other.access))
        .await
        .expect("GetMe of the other resident")
        .into_inner();
    assert_eq!(theirs.id, other.id);
    assert_eq!(
        theirs.display_name,
        display_name_set_by(Caller::OtherResident)
    );
    let seen_by_admin = client
        .get_user(authed(
            proto::GetUserRequest {
                id: resident.id.clone(),
            },
            &world.admin.access,
        ))
        .await
        .expect("GetUser by the admin")
        .into_inner();
    assert_eq!(seen_by_admin, mine, "admins see what the resident sees");

    // A resident's export holds that resident alone.
    let export = client
        .export_my_data(authed(proto::ExportMyDataRequest {}, &other.access))
        .await
        .expect("ExportMyData of the other resident")
        .into_inner();
    assert_eq!(
        export.user.as_ref().map(|u| u.id.as_str()),
        Some(other.id.as_str())
    );
    let exported = format!("{export:?}");
    assert!(
        !exported.contains(&resident.id) && !exported.contains(&resident.email),
        "another person's export mentions the first resident: {exported}"
    );

    // Nothing in the matrix deleted, blocked or re-passworded the residents.
    for person in [resident, other] {
        identity.login(&person.email).await;
    }
}
