//! Which images an admitted object would run. Works on the object as JSON so every
//! Pod-making kind is one path lookup, whatever API version sent it.
//!
//! ```
//! use imgscan::admission::images::{images_of, pod_spec_path};
//! let pod = serde_json::json!({"spec": {"containers": [{"image": "nginx:1"}],
//!     "volumes": [{"image": {"reference": "data:1"}}]}});
//! assert_eq!(pod_spec_path("Pod"), Some(&["spec"][..]));
//! assert_eq!(images_of("Pod", &pod).unwrap().unwrap(), ["data:1", "nginx:1"]);
//! ```

use serde_json::Value;
use std::collections::BTreeSet;

/// Distinct images judged in one object at most; more is refused as hostile.
pub const MAX_IMAGES: usize = 256;

/// The JSON path from an object of `kind` to its Pod spec, or `None` for a kind that
/// makes no Pods.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "PodTemplate" => Some(&["template", "spec"]),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template", "spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Every image in the Pod spec of `obj` (containers, initContainers,
/// ephemeralContainers, image volumes), sorted and deduplicated. `None` when `kind`
/// makes no Pods; `Err` when there are more than [`MAX_IMAGES`].
pub fn images_of(kind: &str, obj: &Value) -> Option<Result<Vec<String>, String>> {
    let path = pod_spec_path(kind)?;
    let mut spec = obj;
    for key in path {
        match spec.get(key) {
            Some(v) => spec = v,
            None => return Some(Ok(Vec::new())),
        }
    }
    let mut out = BTreeSet::new();
    let mut push = |s: &Value| -> Result<(), String> {
        if let Some(s) = s.as_str() {
            out.insert(s.to_string());
            if out.len() > MAX_IMAGES {
                return Err(format!(
                    "the object names more than {MAX_IMAGES} distinct images"
                ));
            }
        }
        Ok(())
    };
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(i) = c.get("image") {
                if let Err(e) = push(i) {
                    return Some(Err(e));
                }
            }
        }
    }
    for v in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = v.get("image").and_then(|i| i.get("reference")) {
            if let Err(e) = push(r) {
                return Some(Err(e));
            }
        }
    }
    Some(Ok(out.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_pod_making_kind() {
        let spec = json!({"containers": [{"image": "a"}], "initContainers": [{"image": "b"}],
            "ephemeralContainers": [{"image": "c"}], "volumes": [{"image": {"reference": "d"}}, {"name": "x"}]});
        let tmpl = json!({"spec": {"template": {"spec": spec}}});
        for k in [
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "ReplicationController",
        ] {
            assert_eq!(
                images_of(k, &tmpl).unwrap().unwrap(),
                ["a", "b", "c", "d"],
                "{k}"
            );
        }
        let pt = json!({"template": {"spec": spec}});
        assert_eq!(images_of("PodTemplate", &pt).unwrap().unwrap().len(), 4);
        let cj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}});
        assert_eq!(images_of("CronJob", &cj).unwrap().unwrap().len(), 4);
        assert!(images_of("Role", &tmpl).is_none());
        assert_eq!(
            images_of("Pod", &json!({})).unwrap().unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn thousands_of_containers_are_bounded() {
        let cs: Vec<Value> = (0..5000)
            .map(|i| json!({"image": format!("i{i}")}))
            .collect();
        let pod = json!({"spec": {"containers": cs}});
        assert!(images_of("Pod", &pod).unwrap().is_err());
        let same: Vec<Value> = (0..5000).map(|_| json!({"image": "x"})).collect();
        let pod = json!({"spec": {"containers": same}});
        assert_eq!(images_of("Pod", &pod).unwrap().unwrap(), ["x"]);
    }
}
