//! The gRPC face of notifications: requests become domain calls, results
//! and errors become responses and statuses. No rule lives here.

use inspraak_kit::auth::principal;
use inspraak_proto::notifications::v1 as proto;
use inspraak_proto::notifications::v1::notifications_server::Notifications;
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::inbox::{self, NotificationStream, me};
use crate::state::State;
use crate::{deliveries, mail, preferences};

pub struct NotificationsApi {
    pub state: State,
}

type Reply<T> = std::result::Result<Response<T>, Status>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

fn signed_in<T>(r: &Request<T>) -> Result<&inspraak_kit::auth::Principal> {
    principal(r).ok_or_else(|| Error::Unauthenticated("sign in first".to_owned()))
}

#[tonic::async_trait]
impl Notifications for NotificationsApi {
    async fn list_notifications(
        &self,
        r: Request<proto::ListNotificationsRequest>,
    ) -> Reply<proto::ListNotificationsResponse> {
        let result = async {
            let me = me(principal(&r))?;
            inbox::list(&self.state, &me, r.get_ref()).await
        };
        reply(result.await)
    }

    async fn get_unread_count(
        &self,
        r: Request<proto::GetUnreadCountRequest>,
    ) -> Reply<proto::UnreadCount> {
        let result = async { inbox::unread(&self.state, &me(principal(&r))?).await };
        reply(result.await)
    }

    async fn mark_read(
        &self,
        r: Request<proto::MarkReadRequest>,
    ) -> Reply<proto::MarkReadResponse> {
        let result = async {
            let me = me(principal(&r))?;
            inbox::mark_read(&self.state, &me, r.get_ref()).await
        };
        reply(result.await)
    }

    async fn mark_all_read(
        &self,
        r: Request<proto::MarkAllReadRequest>,
    ) -> Reply<proto::MarkReadResponse> {
        let result = async { inbox::mark_all_read(&self.state, &me(principal(&r))?).await };
        reply(result.await)
    }

    type StreamNotificationsStream = NotificationStream;

    async fn stream_notifications(
        &self,
        r: Request<proto::StreamNotificationsRequest>,
    ) -> Reply<Self::StreamNotificationsStream> {
        let result = async {
            let me = me(principal(&r))?;
            inbox::stream(self.state.clone(), me).await
        };
        reply(result.await)
    }

    async fn get_preferences(
        &self,
        r: Request<proto::GetPreferencesRequest>,
    ) -> Reply<proto::Preferences> {
        let result = async { preferences::get(&self.state, signed_in(&r)?).await };
        reply(result.await)
    }

    async fn update_preferences(
        &self,
        r: Request<proto::UpdatePreferencesRequest>,
    ) -> Reply<proto::Preferences> {
        let result = async { preferences::update(&self.state, signed_in(&r)?, r.get_ref()).await };
        reply(result.await)
    }

    async fn unsubscribe(
        &self,
        r: Request<proto::UnsubscribeRequest>,
    ) -> Reply<proto::UnsubscribeResponse> {
        let result = async {
            let token = r.get_ref().token.trim();
            if token.is_empty() {
                return Err(Error::invalid("token", "give the token from the e-mail"));
            }
            match mail::unsubscribe::apply(&self.state.db, token).await? {
                Some(category) => Ok(proto::UnsubscribeResponse {
                    category: category.map_or(0, |c| c.wire() as i32),
                }),
                None => Err(Error::NotFound("unsubscribe token")),
            }
        };
        reply(result.await)
    }

    async fn list_deliveries(
        &self,
        r: Request<proto::ListDeliveriesRequest>,
    ) -> Reply<proto::ListDeliveriesResponse> {
        let result = async { deliveries::list(&self.state, signed_in(&r)?, r.get_ref()).await };
        reply(result.await)
    }

    async fn get_report(&self, r: Request<proto::GetReportRequest>) -> Reply<proto::Report> {
        let result = async {
            let principal = signed_in(&r)?;
            let allowed = principal.is_admin()
                || principal
                    .roles
                    .iter()
                    .any(|role| role.as_str() == "decision_maker");
            if !allowed {
                return Err(Error::PermissionDenied(
                    "the report is for decision-makers and platform admins".to_owned(),
                ));
            }
            let request = r.get_ref();
            let (Some(from), Some(to)) = (
                crate::projections::time(request.from.as_ref()),
                crate::projections::time(request.to.as_ref()),
            ) else {
                return Err(Error::invalid("from", "give the period's start and end"));
            };
            if to <= from {
                return Err(Error::invalid("to", "must be after from"));
            }
            if to - from > chrono::Duration::days(400) {
                return Err(Error::invalid("to", "a period of at most 400 days"));
            }
            let locale = crate::projections::person(&self.state.db, &principal.subject)
                .await?
                .map_or_else(|| "en".to_owned(), |p| p.locale);
            Ok(crate::report::compute(&self.state.db, from, to, &locale).await?)
        };
        reply(result.await)
    }

    async fn announce(&self, r: Request<proto::AnnounceRequest>) -> Reply<proto::AnnounceResponse> {
        let result = async {
            crate::announcements::announce(&self.state, signed_in(&r)?, r.get_ref()).await
        };
        reply(result.await)
    }

    async fn retry_delivery(
        &self,
        r: Request<proto::RetryDeliveryRequest>,
    ) -> Reply<proto::Delivery> {
        let result = async { deliveries::retry(&self.state, signed_in(&r)?, r.get_ref()).await };
        reply(result.await)
    }
}
