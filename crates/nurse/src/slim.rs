//! Pods and nodes decoded with only the fields discovery reads. The watches
//! cache every nurse pod and every node of the cluster; as k8s-openapi's
//! `Pod` and `Node` each such object took ~1-2 KB even with its unused
//! fields emptied (their structs hold every field of the API inline), and
//! decoding them walked the whole object. Unknown fields are skipped by serde
//! while decoding, so nothing else is ever allocated.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::Resource;
use serde::{Deserialize, Deserializer};

/// A pod: where it runs, whether it runs, and its addresses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimPod {
    /// Name, namespace, uid, resourceVersion and deletionTimestamp only.
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// Where the pod is scheduled.
    #[serde(default)]
    pub spec: PodPlacement,
    /// Phase and addresses.
    #[serde(default)]
    pub status: PodState,
}

/// The part of a pod's spec discovery reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// The node the pod is bound to.
    pub node_name: Option<String>,
}

/// The part of a pod's status discovery reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodState {
    /// `Pending`, `Running`, …
    pub phase: Option<String>,
    /// The pod's IP.
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    /// Its node's IP.
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
}

/// A node: whether new pods may be scheduled on it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimNode {
    /// Name, uid and resourceVersion only.
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// Cordon and taints.
    #[serde(default)]
    pub spec: NodeScheduling,
}

impl SlimNode {
    /// True when the node is cordoned or carries the unschedulable taint.
    pub fn is_unschedulable(&self) -> bool {
        self.spec.unschedulable.unwrap_or(false)
            || self
                .spec
                .taints
                .iter()
                .any(|t| t.key == "node.kubernetes.io/unschedulable" && t.effect == "NoSchedule")
    }
}

/// The part of a node's spec discovery reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeScheduling {
    /// Set by `kubectl cordon`.
    pub unschedulable: Option<bool>,
    /// Taints (key and effect only).
    #[serde(default)]
    pub taints: Vec<Taint>,
}

/// A node taint's key and effect.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Taint {
    /// Taint key.
    #[serde(default)]
    pub key: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: String,
}

/// The metadata fields the reflector and discovery use.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
}

fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = Meta::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        deletion_timestamp: m.deletion_timestamp,
        ..ObjectMeta::default()
    })
}

/// Implements kube's `Resource` for a slim core/v1 type.
macro_rules! core_v1_resource {
    ($type:ty, $kind:literal, $plural:literal, $scope:ty) => {
        impl Resource for $type {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }

            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("")
            }

            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }

            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

core_v1_resource!(SlimPod, "Pod", "pods", NamespaceResourceScope);
core_v1_resource!(SlimNode, "Node", "nodes", ClusterResourceScope);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Node, Pod};

    #[test]
    fn a_full_pod_decodes_to_the_fields_discovery_reads() {
        let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nurse-a","namespace":"kube-system",
            "uid":"u1","resourceVersion":"42","deletionTimestamp":"2026-12-06T10:00:00Z",
            "labels":{"app":"nurse"},"annotations":{"a":"b"},
            "managedFields":[{"manager":"kubelet","fieldsV1":{"f:status":{}}}]},
            "spec":{"nodeName":"node-1","containers":[{"name":"c","image":"ward"}]},
            "status":{"phase":"Running","podIP":"10.0.0.7","hostIP":"192.0.2.1",
            "conditions":[{"type":"Ready","status":"True"}]}}"#;
        let pod: SlimPod = serde_json::from_str(json).unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("nurse-a"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(pod.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("42"));
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert_eq!(
            (pod.metadata.labels, pod.metadata.managed_fields),
            (None, None)
        );
        assert_eq!(pod.spec.node_name.as_deref(), Some("node-1"));
        assert_eq!(pod.status.phase.as_deref(), Some("Running"));
        assert_eq!(pod.status.pod_ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(pod.status.host_ip.as_deref(), Some("192.0.2.1"));
        // The API path is the one of k8s-openapi's Pod.
        assert_eq!(
            SlimPod::url_path(&(), Some("ns")),
            Pod::url_path(&(), Some("ns"))
        );
    }

    #[test]
    fn nodes_are_unschedulable_when_cordoned_or_tainted() {
        let node = |spec: &str| -> SlimNode {
            serde_json::from_str(&format!(
                r#"{{"metadata":{{"name":"n"}},"spec":{spec},"status":{{"capacity":{{"cpu":"4"}}}}}}"#
            ))
            .unwrap()
        };
        assert!(!node("{}").is_unschedulable());
        assert!(node(r#"{"unschedulable":true}"#).is_unschedulable());
        assert!(node(
            r#"{"taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]}"#
        )
        .is_unschedulable());
        assert!(!node(r#"{"taints":[{"key":"other","effect":"NoSchedule"}]}"#).is_unschedulable());
        let bare: SlimNode = serde_json::from_str(r#"{"metadata":{"name":"n"}}"#).unwrap();
        assert!(!bare.is_unschedulable());
        assert_eq!(SlimNode::url_path(&(), None), Node::url_path(&(), None));
    }
}
