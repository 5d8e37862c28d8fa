//! Settings documents: deployment groups and custom configurations (`KIND#<key>` / `KIND`).

use super::*;

impl Store {
    /// Writes a settings document (`KIND#<key>` / `KIND`), replacing one with the same key:
    /// last write wins, as for a file put twice.
    async fn put_doc(&self, kind: &str, key: &str, doc: &serde_json::Value) -> Result<()> {
        let doc = serde_json::to_string(doc).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("{kind}#{key}")))
            .item("sk", s(kind))
            .item("doc", s(doc))
            .send()
            .await
            .map_err(|e| Error::aws(SVC, "PutItem", &e))?;
        Ok(())
    }

    /// Reads a settings document's text, if it exists.
    async fn get_doc(&self, kind: &str, key: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{kind}#{key}")))
            .key("sk", s(kind))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(SVC, "GetItem", &e))?;
        out.item()
            .map(|item| get_s(item, "doc").map(String::from))
            .transpose()
    }

    /// Stores a deployment group (replacing one of the same key); the document is the
    /// group file as checked, so `group get` shows what deployments will use.
    pub async fn put_group(&self, group: &DeploymentGroup) -> Result<()> {
        self.put_doc("GROUP", &group.key(), &group.to_document())
            .await
    }

    /// A stored deployment group, by `application/name`.
    pub async fn get_group(&self, key: &str) -> Result<Option<DeploymentGroup>> {
        self.get_doc("GROUP", key)
            .await?
            .map(|doc| Self::parse_group(&doc))
            .transpose()
    }

    /// Every stored deployment group, by key.
    pub async fn list_groups(&self) -> Result<Vec<DeploymentGroup>> {
        let mut out = Vec::new();
        for item in self.scan("sk = :sk", "GROUP").await? {
            out.push(Self::parse_group(get_s(&item, "doc")?)?);
        }
        out.sort_by_key(|g| g.key());
        Ok(out)
    }

    fn parse_group(doc: &str) -> Result<DeploymentGroup> {
        DeploymentGroup::parse(doc).map_err(|e| Error::Corrupt(format!("deployment group: {e}")))
    }

    /// Stores a custom configuration (replacing one of the same name).
    pub async fn put_config(&self, config: &DeploymentConfig) -> Result<()> {
        self.put_doc("CONFIG", &config.name, &config.to_document())
            .await
    }

    /// A stored custom configuration.
    pub async fn get_config(&self, name: &str) -> Result<Option<DeploymentConfig>> {
        self.get_doc("CONFIG", name)
            .await?
            .map(|doc| {
                DeploymentConfig::parse_document(&doc)
                    .map_err(|e| Error::Corrupt(format!("config {name}: {e}")))
            })
            .transpose()
    }

    /// Every stored custom configuration, by name.
    pub async fn list_configs(&self) -> Result<Vec<DeploymentConfig>> {
        let mut out = Vec::new();
        for item in self.scan("sk = :sk", "CONFIG").await? {
            let doc = get_s(&item, "doc")?;
            out.push(
                DeploymentConfig::parse_document(doc).map_err(|e| Error::Corrupt(e.to_string()))?,
            );
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
