//! Resource types as the server serves them: discovery documents fetched once per command, and
//! resolution of what a user types (`po`, `pods`, `pod`, `Pod`, `deploy`, `deployments.apps`,
//! `deployment.v1.apps`) to one type, plus categories such as `all`.

use crate::error::CliError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList};
use kube::discovery::ApiResource;

/// One served resource type (subresources such as `pods/log` are not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The plural, lowercase name used in URLs (`deployments`).
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name upstream prints in messages and `-o name`: `pods`, `deployments.apps`.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The prefix of `-o name` and of `created`/`configured` lines: `pod`, `deployment.apps`.
    pub fn qualified_kind(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", self.group)
        }
    }

    /// The kube-rs description for a dynamic `Api<DynamicObject>`.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    /// Whether the server allows `verb` (`list`, `watch`, `patch`...) on this type.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// Every spelling that names this type, lowercase.
    fn spellings(&self) -> impl Iterator<Item = String> + '_ {
        [
            self.plural.clone(),
            self.singular.clone(),
            self.kind.to_lowercase(),
        ]
        .into_iter()
        .chain(self.short_names.iter().map(|s| s.to_lowercase()))
    }
}

/// Everything one server serves, in discovery order (core first, then groups as listed).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub types: Vec<ResourceType>,
}

impl Catalog {
    /// Reads `/api/v1` and the preferred version of every group under `/apis`.
    pub async fn discover(client: &kube::Client) -> Result<Self, CliError> {
        let mut documents = vec![(
            "".to_owned(),
            get_json::<APIResourceList>(client, "/api/v1").await?,
        )];
        let groups: APIGroupList = get_json(client, "/apis").await?;
        let fetches = groups.groups.iter().filter_map(|group| {
            let version = group
                .preferred_version
                .as_ref()
                .or_else(|| group.versions.first())?;
            let path = format!("/apis/{}", version.group_version);
            let name = group.name.clone();
            Some(async move {
                get_json::<APIResourceList>(client, &path)
                    .await
                    .map(|l| (name, l))
            })
        });
        documents.extend(futures::future::try_join_all(fetches).await?);
        Ok(Self::from_documents(documents))
    }

    /// Builds the catalog from `(group, resource list)` pairs.
    pub fn from_documents(documents: Vec<(String, APIResourceList)>) -> Self {
        let mut types = Vec::new();
        for (group, list) in documents {
            let version = list
                .group_version
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            for resource in list.resources {
                if resource.name.contains('/') {
                    continue;
                }
                let singular = if resource.singular_name.is_empty() {
                    resource.kind.to_lowercase()
                } else {
                    resource.singular_name.clone()
                };
                types.push(ResourceType {
                    group: group.clone(),
                    version: version.clone(),
                    kind: resource.kind,
                    plural: resource.name,
                    singular,
                    namespaced: resource.namespaced,
                    short_names: resource.short_names.unwrap_or_default(),
                    categories: resource.categories.unwrap_or_default(),
                    verbs: resource.verbs,
                });
            }
        }
        Self { types }
    }

    /// Resolves what the user typed. `name.group` and `name.version.group` pin the group; a bare
    /// name prefers the core group, then the first group that serves it (as upstream's
    /// priority RESTMapper does for the types we serve).
    pub fn resolve(&self, typed: &str) -> Result<&ResourceType, CliError> {
        let lower = typed.to_lowercase();
        let (name, group, version) = match lower.split_once('.') {
            None => (lower.as_str(), None, None),
            Some((name, rest)) => match rest.split_once('.') {
                Some((version, group))
                    if self
                        .types
                        .iter()
                        .any(|t| t.version == version && t.group == group) =>
                {
                    (name, Some(group), Some(version))
                }
                _ => (name, Some(rest), None),
            },
        };
        self.types
            .iter()
            .filter(|t| group.is_none_or(|g| t.group == g))
            .filter(|t| version.is_none_or(|v| t.version == v))
            .find(|t| t.spellings().any(|s| s == name))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "the server doesn't have a resource type \"{typed}\""
                ))
            })
    }

    /// The type serving `kind` in `apiVersion` (as written in a manifest).
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.kind == kind && t.api_version() == api_version)
    }

    /// The types in a category (`all`), in discovery order.
    pub fn category(&self, category: &str) -> Vec<&ResourceType> {
        self.types
            .iter()
            .filter(|t| t.categories.iter().any(|c| c == category))
            .collect()
    }

    /// Expands one comma-separated type argument (`pods,svc`, `all`) into types, keeping order
    /// and dropping repeats.
    pub fn expand(&self, typed: &str) -> Result<Vec<&ResourceType>, CliError> {
        let mut out: Vec<&ResourceType> = Vec::new();
        for part in typed.split(',').filter(|p| !p.is_empty()) {
            let found = match self.category(part) {
                in_category if !in_category.is_empty() && self.resolve(part).is_err() => {
                    in_category
                }
                _ => vec![self.resolve(part)?],
            };
            for t in found {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }
}

/// Splits `TYPE/NAME` (`deploy/web`); a bare word is a type with no name.
pub fn split_type_name(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('/') {
        Some((kind, name)) => (kind, Some(name)),
        None => (arg, None),
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    path: &str,
) -> Result<T, CliError> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(client.request(request).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    fn resource(name: &str, kind: &str, short: &[&str], categories: &[&str]) -> APIResource {
        APIResource {
            name: name.into(),
            kind: kind.into(),
            namespaced: name != "nodes",
            singular_name: kind.to_lowercase(),
            short_names: Some(short.iter().map(|s| s.to_string()).collect()),
            categories: Some(categories.iter().map(|s| s.to_string()).collect()),
            verbs: vec!["get".into(), "list".into()],
            ..APIResource::default()
        }
    }

    fn catalog() -> Catalog {
        let core = APIResourceList {
            group_version: "v1".into(),
            resources: vec![
                resource("pods", "Pod", &["po"], &["all"]),
                resource("pods/log", "Pod", &[], &[]),
                resource("nodes", "Node", &["no"], &[]),
                resource("events", "Event", &["ev"], &[]),
                resource("services", "Service", &["svc"], &["all"]),
            ],
        };
        let apps = APIResourceList {
            group_version: "apps/v1".into(),
            resources: vec![resource("deployments", "Deployment", &["deploy"], &["all"])],
        };
        let events = APIResourceList {
            group_version: "events.k8s.io/v1".into(),
            resources: vec![resource("events", "Event", &["ev"], &[])],
        };
        Catalog::from_documents(vec![
            ("".into(), core),
            ("apps".into(), apps),
            ("events.k8s.io".into(), events),
        ])
    }

    #[test]
    fn resolves_every_spelling_upstream_accepts() {
        let catalog = catalog();
        let cases = [
            ("po", "", "pods"),
            ("pods", "", "pods"),
            ("pod", "", "pods"),
            ("Pod", "", "pods"),
            ("deploy", "apps", "deployments"),
            ("deployments.apps", "apps", "deployments"),
            ("deployment.v1.apps", "apps", "deployments"),
            ("ev", "", "events"),
            ("events.events.k8s.io", "events.k8s.io", "events"),
        ];
        for (typed, group, plural) in cases {
            let t = catalog.resolve(typed).unwrap();
            assert_eq!(
                (t.group.as_str(), t.plural.as_str()),
                (group, plural),
                "{typed}"
            );
        }
    }

    #[test]
    fn unknown_types_and_subresources_are_refused() {
        let catalog = catalog();
        for typed in ["foo", "log", "pods/log", "deployments.extensions"] {
            let error = catalog.resolve(typed).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("error: the server doesn't have a resource type \"{typed}\"")
            );
        }
    }

    #[test]
    fn all_expands_to_its_category_in_discovery_order() {
        let catalog = catalog();
        let names: Vec<_> = catalog
            .expand("all")
            .unwrap()
            .iter()
            .map(|t| t.qualified_plural())
            .collect();
        assert_eq!(names, ["pods", "services", "deployments.apps"]);
        let names: Vec<_> = catalog
            .expand("po,svc,pods")
            .unwrap()
            .iter()
            .map(|t| t.plural.clone())
            .collect();
        assert_eq!(names, ["pods", "services"]);
    }

    #[test]
    fn names_print_like_upstream() {
        let catalog = catalog();
        let deploy = catalog.resolve("deploy").unwrap();
        assert_eq!(deploy.qualified_kind(), "deployment.apps");
        assert_eq!(deploy.qualified_plural(), "deployments.apps");
        assert_eq!(catalog.resolve("po").unwrap().qualified_kind(), "pod");
        assert_eq!(split_type_name("deploy/web"), ("deploy", Some("web")));
        assert_eq!(split_type_name("pods"), ("pods", None));
    }
}
