//! The driver lease (`DEP#<id>` / `DRIVER`): which process drives a deployment, until when.

use super::*;

impl Store {
    /// Takes (or renews) the lease of the process driving deployment `id` until `until`
    /// (ms): granted when nobody holds it, `owner` holds it already, or the holder's lease
    /// ran out before `now`. Otherwise answers the holder and when its lease ends.
    pub async fn acquire_driver(
        &self,
        id: &str,
        owner: &str,
        until: u64,
        now: u64,
    ) -> Result<Option<(String, u64)>> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(dep_pk(id)))
            .item("sk", s("DRIVER"))
            .item("owner", s(owner))
            .item("leaseUntil", n(until))
            .condition_expression("attribute_not_exists(pk) OR #owner = :me OR leaseUntil < :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match res {
            Ok(_) => Ok(None),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Some(self.driver(id).await?.unwrap_or_default()))
            }
            Err(e) => Err(Error::aws(SVC, "PutItem", &e)),
        }
    }

    /// The process holding deployment `id`'s driver lease and when it ends, if any.
    pub async fn driver(&self, id: &str) -> Result<Option<(String, u64)>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(dep_pk(id)))
            .key("sk", s("DRIVER"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(SVC, "GetItem", &e))?;
        Ok(out.item().and_then(|i| {
            Some((
                get_s(i, "owner").ok()?.to_string(),
                get_n(i, "leaseUntil").ok()?,
            ))
        }))
    }

    /// Gives up `owner`'s driver lease of deployment `id` (nothing if another holds it).
    pub async fn release_driver(&self, id: &str, owner: &str) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(dep_pk(id)))
            .key("sk", s("DRIVER"))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::aws(SVC, "DeleteItem", &e)),
        }
    }
}
