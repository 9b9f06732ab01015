//! The gRPC face of identity: requests become domain calls, results and
//! errors become responses and statuses. No rule lives here.

use inspraak_kit::auth::principal;
use inspraak_proto::identity::v1 as proto;
use inspraak_proto::identity::v1::identity_server::Identity;
use inspraak_proto::identity::v1::signing_keys_server::SigningKeys as SigningKeysApi;
use tonic::{Request, Response, Status};

use crate::access::{Caller, caller};
use crate::accounts::{self, Registration};
use crate::error::Error;
use crate::state::State;
use crate::{departments, people, policy, roles};

pub struct IdentityApi {
    pub state: State,
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, Error>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

impl IdentityApi {
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        caller(&self.state, principal(request))
            .await
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl Identity for IdentityApi {
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Reply<proto::RegisterResponse> {
        let r = request.into_inner();
        let registration = Registration {
            email: r.email,
            password: r.password,
            display_name: r.display_name,
            locale: r.locale,
            fields: r.fields,
        };
        let outcome = async {
            let (user, confirmation_sent) = accounts::register(&self.state, registration).await?;
            Ok(proto::RegisterResponse {
                user: Some(people::to_proto(&self.state.db, &user, self.state.clock.now()).await?),
                confirmation_sent,
            })
        };
        reply(outcome.await)
    }

    async fn confirm_email(
        &self,
        request: Request<proto::ConfirmEmailRequest>,
    ) -> Reply<proto::ConfirmEmailResponse> {
        let r = request.into_inner();
        reply(
            accounts::confirm_email(&self.state, &r.email, &r.code)
                .await
                .map(|()| proto::ConfirmEmailResponse {}),
        )
    }

    async fn resend_confirmation(
        &self,
        request: Request<proto::ResendConfirmationRequest>,
    ) -> Reply<proto::ResendConfirmationResponse> {
        let r = request.into_inner();
        reply(
            accounts::resend_confirmation(&self.state, &r.email)
                .await
                .map(|()| proto::ResendConfirmationResponse {}),
        )
    }

    async fn login(&self, request: Request<proto::LoginRequest>) -> Reply<proto::Session> {
        let client = request.remote_addr();
        let r = request.into_inner();
        reply(accounts::login(&self.state, &r.email, &r.password, client).await)
    }

    async fn refresh(&self, request: Request<proto::RefreshRequest>) -> Reply<proto::Session> {
        reply(accounts::refresh(&self.state, &request.into_inner().refresh_token).await)
    }

    async fn logout(&self, request: Request<proto::LogoutRequest>) -> Reply<proto::LogoutResponse> {
        reply(
            accounts::logout(&self.state, &request.into_inner().refresh_token)
                .await
                .map(|()| proto::LogoutResponse {}),
        )
    }

    async fn change_password(
        &self,
        request: Request<proto::ChangePasswordRequest>,
    ) -> Reply<proto::ChangePasswordResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let outcome = async {
            let user = caller.person()?;
            accounts::change_password(&self.state, user, &r.current_password, &r.new_password).await
        };
        reply(outcome.await.map(|()| proto::ChangePasswordResponse {}))
    }

    async fn request_password_reset(
        &self,
        request: Request<proto::RequestPasswordResetRequest>,
    ) -> Reply<proto::RequestPasswordResetResponse> {
        let r = request.into_inner();
        reply(
            accounts::request_password_reset(&self.state, &r.email)
                .await
                .map(|()| proto::RequestPasswordResetResponse {}),
        )
    }

    async fn reset_password(
        &self,
        request: Request<proto::ResetPasswordRequest>,
    ) -> Reply<proto::ResetPasswordResponse> {
        let r = request.into_inner();
        reply(
            accounts::reset_password(&self.state, &r.email, &r.code, &r.new_password)
                .await
                .map(|()| proto::ResetPasswordResponse {}),
        )
    }

    async fn issue_service_token(
        &self,
        request: Request<proto::IssueServiceTokenRequest>,
    ) -> Reply<proto::ServiceToken> {
        let r = request.into_inner();
        reply(accounts::service_token(&self.state, &r.client_id, &r.client_secret).await)
    }

    async fn get_me(&self, request: Request<proto::GetMeRequest>) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        let outcome = async {
            people::to_proto(&self.state.db, caller.person()?, self.state.clock.now()).await
        };
        reply(outcome.await)
    }

    async fn update_me(&self, request: Request<proto::UpdateMeRequest>) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        reply(people::update_me(&self.state, &caller, request.into_inner()).await)
    }

    async fn delete_me(
        &self,
        request: Request<proto::DeleteMeRequest>,
    ) -> Reply<proto::DeleteMeResponse> {
        let caller = self.caller(&request).await?;
        reply(
            people::delete_me(&self.state, &caller, &request.into_inner().password)
                .await
                .map(|()| proto::DeleteMeResponse {}),
        )
    }

    async fn export_my_data(
        &self,
        request: Request<proto::ExportMyDataRequest>,
    ) -> Reply<proto::ExportMyDataResponse> {
        let caller = self.caller(&request).await?;
        reply(people::export(&self.state, &caller).await)
    }

    async fn get_user(&self, request: Request<proto::GetUserRequest>) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        reply(people::get_user(&self.state, &caller, &request.into_inner().id).await)
    }

    async fn list_users(
        &self,
        request: Request<proto::ListUsersRequest>,
    ) -> Reply<proto::ListUsersResponse> {
        let caller = self.caller(&request).await?;
        reply(people::list(&self.state, &caller, request.get_ref()).await)
    }

    async fn block_user(&self, request: Request<proto::BlockUserRequest>) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        reply(people::block(&self.state, &caller, request.get_ref()).await)
    }

    async fn unblock_user(
        &self,
        request: Request<proto::UnblockUserRequest>,
    ) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        reply(people::unblock(&self.state, &caller, &request.get_ref().id).await)
    }

    async fn grant_role(&self, request: Request<proto::GrantRoleRequest>) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        reply(roles::grant(&self.state, &caller, request.get_ref()).await)
    }

    async fn revoke_role(&self, request: Request<proto::RevokeRoleRequest>) -> Reply<proto::User> {
        let caller = self.caller(&request).await?;
        reply(roles::revoke(&self.state, &caller, request.get_ref()).await)
    }

    async fn get_governance_overview(
        &self,
        request: Request<proto::GetGovernanceOverviewRequest>,
    ) -> Reply<proto::GovernanceOverview> {
        let caller = self.caller(&request).await?;
        reply(roles::overview(&self.state, &caller).await)
    }

    async fn list_departments(
        &self,
        request: Request<proto::ListDepartmentsRequest>,
    ) -> Reply<proto::ListDepartmentsResponse> {
        // Public, but only admins and services learn who works where.
        let with_members = match principal(&request) {
            Some(_) => self
                .caller(&request)
                .await
                .is_ok_and(|c| c.is_admin() || c.is_service()),
            None => false,
        };
        reply(
            departments::list(
                &self.state,
                request.get_ref().include_archived,
                with_members,
            )
            .await,
        )
    }

    async fn create_department(
        &self,
        request: Request<proto::CreateDepartmentRequest>,
    ) -> Reply<proto::Department> {
        let caller = self.caller(&request).await?;
        reply(departments::create(&self.state, &caller, request.get_ref()).await)
    }

    async fn update_department(
        &self,
        request: Request<proto::UpdateDepartmentRequest>,
    ) -> Reply<proto::Department> {
        let caller = self.caller(&request).await?;
        reply(departments::update(&self.state, &caller, request.get_ref()).await)
    }

    async fn archive_department(
        &self,
        request: Request<proto::ArchiveDepartmentRequest>,
    ) -> Reply<proto::Department> {
        let caller = self.caller(&request).await?;
        reply(departments::archive(&self.state, &caller, &request.get_ref().id).await)
    }

    async fn add_department_member(
        &self,
        request: Request<proto::AddDepartmentMemberRequest>,
    ) -> Reply<proto::Department> {
        let caller = self.caller(&request).await?;
        reply(departments::add_member(&self.state, &caller, request.get_ref()).await)
    }

    async fn remove_department_member(
        &self,
        request: Request<proto::RemoveDepartmentMemberRequest>,
    ) -> Reply<proto::Department> {
        let caller = self.caller(&request).await?;
        reply(departments::remove_member(&self.state, &caller, request.get_ref()).await)
    }

    async fn get_registration_policy(
        &self,
        _request: Request<proto::GetRegistrationPolicyRequest>,
    ) -> Reply<proto::RegistrationPolicy> {
        reply(
            policy::current(&self.state)
                .await
                .map(|current| current.to_proto()),
        )
    }

    async fn update_registration_policy(
        &self,
        request: Request<proto::UpdateRegistrationPolicyRequest>,
    ) -> Reply<proto::RegistrationPolicy> {
        let caller = self.caller(&request).await?;
        reply(
            policy::update(&self.state, &caller, request.get_ref())
                .await
                .map(|current| current.to_proto()),
        )
    }

    async fn rotate_signing_key(
        &self,
        request: Request<proto::RotateSigningKeyRequest>,
    ) -> Reply<proto::RotateSigningKeyResponse> {
        let caller = self.caller(&request).await?;
        let outcome = async {
            caller.require_admin()?;
            let (kid, until) = self
                .state
                .keys
                .rotate(self.state.settings.access_token_ttl)
                .await?;
            Ok(proto::RotateSigningKeyResponse {
                kid,
                previous_verify_until: Some(accounts::timestamp(until)),
            })
        };
        reply(outcome.await)
    }
}

/// The public keys, for every service's token verification.
pub struct SigningKeysApiImpl {
    pub state: State,
}

#[tonic::async_trait]
impl SigningKeysApi for SigningKeysApiImpl {
    async fn get_jwks(
        &self,
        _request: Request<proto::GetJwksRequest>,
    ) -> Reply<proto::GetJwksResponse> {
        reply(
            self.state
                .keys
                .jwks()
                .await
                .map(|keys| proto::GetJwksResponse { keys }),
        )
    }
}
