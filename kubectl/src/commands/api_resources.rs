//! `kubectl api-resources`: the served types, sorted by group then name as upstream, with
//! NAME SHORTNAMES APIVERSION NAMESPACED KIND columns (plus VERBS and CATEGORIES with `-o wide`),
//! or `-o name` (`deployments.apps`).

use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::printers::tabwriter::TabWriter;
use crate::resources::{Catalog, ResourceType};
use crate::session::Session;

/// Arguments of `kubectl api-resources`.
#[derive(Debug, clap::Args)]
pub struct ApiResourcesArgs {
    /// Output format: wide or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Only namespaced (true) or only cluster-scoped (false) resources.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub namespaced: Option<bool>,
    /// Limit to resources in the specified API group.
    #[arg(long)]
    pub api_group: Option<String>,
    /// Limit to resources that support the specified verbs.
    #[arg(long, value_delimiter = ',')]
    pub verbs: Vec<String>,
    /// Do not print headers.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_headers: Option<bool>,
    /// Sort by 'name' or 'kind' instead of the group.
    #[arg(long)]
    pub sort_by: Option<String>,
}

/// How `api-resources` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Table,
    Wide,
    Name,
}

/// Filters and sorts the catalog as upstream does.
pub fn select<'a>(
    catalog: &'a Catalog,
    args: &ApiResourcesArgs,
) -> Result<Vec<&'a ResourceType>, CliError> {
    let mut selected: Vec<&ResourceType> = catalog
        .types
        .iter()
        .filter(|t| !t.verbs.is_empty())
        .filter(|t| args.namespaced.is_none_or(|n| t.namespaced == n))
        .filter(|t| args.api_group.as_ref().is_none_or(|g| &t.group == g))
        .filter(|t| args.verbs.iter().all(|v| t.supports(v)))
        .collect();
    let key = |t: &ResourceType| -> String {
        match args.sort_by.as_deref() {
            Some("name") => t.plural.clone(),
            Some("kind") => t.kind.clone(),
            _ => t.group.clone(),
        }
    };
    if let Some(sort) = args
        .sort_by
        .as_deref()
        .filter(|s| *s != "name" && *s != "kind")
    {
        return Err(CliError::usage(format!(
            "--sort-by accepts only name or kind, got {sort:?}"
        )));
    }
    selected.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.plural.cmp(&b.plural)));
    Ok(selected)
}

/// The printed text for `types`.
pub fn render(types: &[&ResourceType], layout: Layout, no_headers: bool) -> String {
    if layout == Layout::Name {
        return types
            .iter()
            .map(|t| format!("{}\n", t.qualified_plural()))
            .collect();
    }
    let mut text = String::new();
    if !no_headers {
        text.push_str("NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND");
        if layout == Layout::Wide {
            text.push_str("\tVERBS\tCATEGORIES");
        }
        text.push('\n');
    }
    for t in types {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}",
            t.plural,
            t.short_names.join(","),
            t.api_version(),
            t.namespaced,
            t.kind
        ));
        if layout == Layout::Wide {
            let mut verbs = t.verbs.clone();
            verbs.sort();
            text.push_str(&format!(
                "\t{}\t{}",
                verbs.join(","),
                t.categories.join(",")
            ));
        }
        text.push('\n');
    }
    TabWriter::for_tables().format(&text)
}

pub async fn run(flags: &GlobalFlags, args: ApiResourcesArgs) -> Result<(), CliError> {
    let layout = match args.output.as_deref().map(|o| o.trim_start_matches('=')) {
        None | Some("") => Layout::Table,
        Some("wide") => Layout::Wide,
        Some("name") => Layout::Name,
        Some(other) => {
            return Err(CliError::usage(format!(
                "--output {other} is not available"
            )))
        }
    };
    let session = Session::connect(flags).await?;
    let catalog = Catalog::discover(&session.client).await?;
    let selected = select(&catalog, &args)?;
    print!(
        "{}",
        render(&selected, layout, args.no_headers.unwrap_or(false))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};

    fn catalog() -> Catalog {
        let resource = |name: &str, kind: &str, short: &[&str], namespaced: bool| APIResource {
            name: name.into(),
            kind: kind.into(),
            namespaced,
            short_names: Some(short.iter().map(|s| s.to_string()).collect()),
            verbs: vec!["list".into(), "get".into()],
            ..APIResource::default()
        };
        Catalog::from_documents(vec![
            (
                "".into(),
                APIResourceList {
                    group_version: "v1".into(),
                    resources: vec![
                        resource("pods", "Pod", &["po"], true),
                        resource("nodes", "Node", &["no"], false),
                        resource("secrets", "Secret", &[], true),
                    ],
                },
            ),
            (
                "events.k8s.io".into(),
                APIResourceList {
                    group_version: "events.k8s.io/v1".into(),
                    resources: vec![resource("events", "Event", &["ev"], true)],
                },
            ),
            (
                "apps".into(),
                APIResourceList {
                    group_version: "apps/v1".into(),
                    resources: vec![resource("deployments", "Deployment", &["deploy"], true)],
                },
            ),
        ])
    }

    fn args() -> ApiResourcesArgs {
        ApiResourcesArgs {
            output: None,
            namespaced: None,
            api_group: None,
            verbs: Vec::new(),
            no_headers: None,
            sort_by: None,
        }
    }

    #[test]
    fn sorted_by_group_then_name_in_columns() {
        let catalog = catalog();
        let selected = select(&catalog, &args()).unwrap();
        assert_eq!(
            render(&selected, Layout::Table, false),
            "NAME          SHORTNAMES   APIVERSION         NAMESPACED   KIND\n\
             nodes         no           v1                 false        Node\n\
             pods          po           v1                 true         Pod\n\
             secrets                    v1                 true         Secret\n\
             deployments   deploy       apps/v1            true         Deployment\n\
             events        ev           events.k8s.io/v1   true         Event\n"
        );
    }

    #[test]
    fn filters_and_names() {
        let catalog = catalog();
        let mut filter = args();
        filter.namespaced = Some(false);
        assert_eq!(
            render(&select(&catalog, &filter).unwrap(), Layout::Name, false),
            "nodes\n"
        );
        let mut filter = args();
        filter.api_group = Some("apps".into());
        assert_eq!(
            render(&select(&catalog, &filter).unwrap(), Layout::Name, false),
            "deployments.apps\n"
        );
        let mut wide = render(&select(&catalog, &args()).unwrap(), Layout::Wide, false);
        wide.truncate(wide.find('\n').unwrap());
        assert!(
            wide.ends_with("KIND         VERBS      CATEGORIES"),
            "{wide:?}"
        );
    }
}
