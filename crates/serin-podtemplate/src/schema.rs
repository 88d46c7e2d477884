//! The Kubernetes types reachable from a `core/v1` `PodTemplateSpec`, written down as a
//! static table so that both the checker and the Go-compatible encoder can walk a template
//! without hand-written per-type code.
//!
//! Every struct lists its JSON fields in Go declaration order, because Go's `encoding/json`
//! emits fields in that order and the pod-template-hash depends on the exact bytes. Each
//! field records its kind, whether the Go field is a pointer, and whether its tag carries
//! `omitempty`. An embedded struct (`json:",inline"`) is a field with an empty name whose
//! fields are spliced in at that position, as Go does for anonymous struct fields.
//!
//! Transcribed from `k8s.io/api/core/v1/types.go` and `k8s.io/apimachinery/pkg/apis/meta/v1/types.go`.
//! Deliberate choices:
//! - `ObjectMeta.creationTimestamp` is taken from the apimachinery releases Argo Rollouts
//!   builds with, where the tag is `omitempty` only (no `omitzero`), so an unset
//!   timestamp is printed as `null`.
//! - `EphemeralContainer` inlines `Container`, since `EphemeralContainerCommon` has exactly the
//!   fields of `Container` in the same order (the Go code asserts that conversion).
//! - Fields that only newer Kubernetes releases have are included; they all carry `omitempty`,
//!   so they change nothing for templates that do not set them.

/// The kind of a field's value, mirroring the Go type behind it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// `string` or a string-typed alias (enums such as `Protocol`).
    Str,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `bool`.
    Bool,
    /// `resource.Quantity`: a struct with its own JSON form (never omitted by `omitempty`).
    Quantity,
    /// `intstr.IntOrString`: a struct that prints as a number or a string.
    IntOrString,
    /// `metav1.Time`: a struct that prints as an RFC 3339 string, or `null` when zero.
    Time,
    /// Opaque JSON (`metav1.FieldsV1`).
    Raw,
    /// A struct.
    Struct(&'static Def),
    /// A slice `[]T`.
    List(&'static Ty),
    /// A map `map[string]T`.
    Map(&'static Ty),
}

/// A Go struct: its name (for messages) and its JSON fields in declaration order.
#[derive(Debug)]
pub(crate) struct Def {
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the schema tests and Debug output"))]
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

/// One struct field. An empty `name` marks an embedded (inline) struct.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    /// The Go field is a pointer: absent means nil, a present zero value is still printed.
    pub(crate) ptr: bool,
    /// The tag carries `omitempty`.
    pub(crate) omitempty: bool,
}

impl Def {
    /// Looks a JSON key up among this struct's fields, inline structs included.
    pub(crate) fn field(&self, key: &str) -> Option<&'static Field> {
        for f in self.fields {
            if f.name.is_empty() {
                if let Ty::Struct(inner) = f.ty
                    && let Some(found) = inner.field(key)
                {
                    return Some(found);
                }
            } else if f.name == key {
                return Some(f);
            }
        }
        None
    }

    /// All JSON keys of this struct in declaration order, inline structs spliced in.
    pub(crate) fn keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for f in self.fields {
            if f.name.is_empty() {
                if let Ty::Struct(inner) = f.ty {
                    out.extend(inner.keys());
                }
            } else {
                out.push(f.name);
            }
        }
        out
    }
}

/// `json:"name"` on a non-pointer field: always printed.
const fn req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, ptr: false, omitempty: false }
}

/// `json:"name,omitempty"` on a non-pointer field.
const fn opt(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, ptr: false, omitempty: true }
}

/// `json:"name,omitempty"` on a pointer field: left out only when nil.
const fn ptr(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, ptr: true, omitempty: true }
}

/// `json:"name"` on a pointer field: a nil pointer prints `null`.
const fn ptr_req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, ptr: true, omitempty: false }
}

/// An embedded struct with `json:",inline"`.
const fn inline(def: &'static Def) -> Field {
    Field { name: "", ty: Ty::Struct(def), ptr: false, omitempty: false }
}

const S: Ty = Ty::Str;
const I32: Ty = Ty::I32;
const I64: Ty = Ty::I64;
const B: Ty = Ty::Bool;
const Q: Ty = Ty::Quantity;
const IOS: Ty = Ty::IntOrString;
const TIME: Ty = Ty::Time;
const RAW: Ty = Ty::Raw;
const STRS: Ty = Ty::List(&Ty::Str);
const I32S: Ty = Ty::List(&Ty::I32);
const I64S: Ty = Ty::List(&Ty::I64);
const STR_MAP: Ty = Ty::Map(&Ty::Str);
/// `ResourceList`, i.e. `map[ResourceName]resource.Quantity`.
const RESOURCE_LIST: Ty = Ty::Map(&Ty::Quantity);

macro_rules! st {
    ($def:ident) => {
        Ty::Struct(&$def)
    };
}

macro_rules! list {
    ($def:ident) => {
        Ty::List(&Ty::Struct(&$def))
    };
}

macro_rules! def {
    ($id:ident, $name:literal, [$($field:expr),* $(,)?]) => {
        const $id: Def = Def { name: $name, fields: &[$($field),*] };
    };
}

/// The root of every template: `corev1.PodTemplateSpec`.
pub(crate) const POD_TEMPLATE_SPEC: Def =
    Def { name: "PodTemplateSpec", fields: &[opt("metadata", st!(OBJECT_META)), opt("spec", st!(POD_SPEC))] };

// ---- k8s.io/apimachinery/pkg/apis/meta/v1 ----

def!(
    OBJECT_META,
    "ObjectMeta",
    [
        opt("name", S),
        opt("generateName", S),
        opt("namespace", S),
        opt("selfLink", S),
        opt("uid", S),
        opt("resourceVersion", S),
        opt("generation", I64),
        opt("creationTimestamp", TIME),
        ptr("deletionTimestamp", TIME),
        ptr("deletionGracePeriodSeconds", I64),
        opt("labels", STR_MAP),
        opt("annotations", STR_MAP),
        opt("ownerReferences", list!(OWNER_REFERENCE)),
        opt("finalizers", STRS),
        opt("managedFields", list!(MANAGED_FIELDS_ENTRY)),
    ]
);

def!(
    OWNER_REFERENCE,
    "OwnerReference",
    [
        req("apiVersion", S),
        req("kind", S),
        req("name", S),
        req("uid", S),
        ptr("controller", B),
        ptr("blockOwnerDeletion", B),
    ]
);

def!(
    MANAGED_FIELDS_ENTRY,
    "ManagedFieldsEntry",
    [
        opt("manager", S),
        opt("operation", S),
        opt("apiVersion", S),
        ptr("time", TIME),
        opt("fieldsType", S),
        ptr("fieldsV1", RAW),
        opt("subresource", S),
    ]
);

def!(
    LABEL_SELECTOR,
    "LabelSelector",
    [opt("matchLabels", STR_MAP), opt("matchExpressions", list!(LABEL_SELECTOR_REQUIREMENT)),]
);

def!(LABEL_SELECTOR_REQUIREMENT, "LabelSelectorRequirement", [req("key", S), req("operator", S), opt("values", STRS),]);

// ---- PodSpec ----

def!(
    POD_SPEC,
    "PodSpec",
    [
        opt("volumes", list!(VOLUME)),
        opt("initContainers", list!(CONTAINER)),
        req("containers", list!(CONTAINER)),
        opt("ephemeralContainers", list!(EPHEMERAL_CONTAINER)),
        opt("restartPolicy", S),
        ptr("terminationGracePeriodSeconds", I64),
        ptr("activeDeadlineSeconds", I64),
        opt("dnsPolicy", S),
        opt("nodeSelector", STR_MAP),
        opt("serviceAccountName", S),
        opt("serviceAccount", S),
        ptr("automountServiceAccountToken", B),
        opt("nodeName", S),
        opt("hostNetwork", B),
        opt("hostPID", B),
        opt("hostIPC", B),
        ptr("shareProcessNamespace", B),
        ptr("securityContext", st!(POD_SECURITY_CONTEXT)),
        opt("imagePullSecrets", list!(LOCAL_OBJECT_REFERENCE)),
        opt("hostname", S),
        opt("subdomain", S),
        ptr("affinity", st!(AFFINITY)),
        opt("schedulerName", S),
        opt("tolerations", list!(TOLERATION)),
        opt("hostAliases", list!(HOST_ALIAS)),
        opt("priorityClassName", S),
        ptr("priority", I32),
        ptr("dnsConfig", st!(POD_DNS_CONFIG)),
        opt("readinessGates", list!(POD_READINESS_GATE)),
        ptr("runtimeClassName", S),
        ptr("enableServiceLinks", B),
        ptr("preemptionPolicy", S),
        opt("overhead", RESOURCE_LIST),
        opt("topologySpreadConstraints", list!(TOPOLOGY_SPREAD_CONSTRAINT)),
        ptr("setHostnameAsFQDN", B),
        ptr("os", st!(POD_OS)),
        ptr("hostUsers", B),
        opt("schedulingGates", list!(POD_SCHEDULING_GATE)),
        opt("resourceClaims", list!(POD_RESOURCE_CLAIM)),
        ptr("resources", st!(RESOURCE_REQUIREMENTS)),
        ptr("hostnameOverride", S),
        ptr("workloadRef", st!(WORKLOAD_REFERENCE)),
    ]
);

def!(LOCAL_OBJECT_REFERENCE, "LocalObjectReference", [opt("name", S)]);

def!(
    POD_SECURITY_CONTEXT,
    "PodSecurityContext",
    [
        ptr("seLinuxOptions", st!(SE_LINUX_OPTIONS)),
        ptr("windowsOptions", st!(WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        ptr("runAsUser", I64),
        ptr("runAsGroup", I64),
        ptr("runAsNonRoot", B),
        opt("supplementalGroups", I64S),
        ptr("supplementalGroupsPolicy", S),
        ptr("fsGroup", I64),
        opt("sysctls", list!(SYSCTL)),
        ptr("fsGroupChangePolicy", S),
        ptr("seccompProfile", st!(SECCOMP_PROFILE)),
        ptr("appArmorProfile", st!(APP_ARMOR_PROFILE)),
        ptr("seLinuxChangePolicy", S),
    ]
);

def!(SYSCTL, "Sysctl", [req("name", S), req("value", S)]);

def!(SE_LINUX_OPTIONS, "SELinuxOptions", [opt("user", S), opt("role", S), opt("type", S), opt("level", S),]);

def!(
    WINDOWS_SECURITY_CONTEXT_OPTIONS,
    "WindowsSecurityContextOptions",
    [ptr("gmsaCredentialSpecName", S), ptr("gmsaCredentialSpec", S), ptr("runAsUserName", S), ptr("hostProcess", B),]
);

def!(SECCOMP_PROFILE, "SeccompProfile", [req("type", S), ptr("localhostProfile", S)]);

def!(APP_ARMOR_PROFILE, "AppArmorProfile", [req("type", S), ptr("localhostProfile", S)]);

def!(
    AFFINITY,
    "Affinity",
    [
        ptr("nodeAffinity", st!(NODE_AFFINITY)),
        ptr("podAffinity", st!(POD_AFFINITY)),
        ptr("podAntiAffinity", st!(POD_ANTI_AFFINITY)),
    ]
);

def!(
    NODE_AFFINITY,
    "NodeAffinity",
    [
        ptr("requiredDuringSchedulingIgnoredDuringExecution", st!(NODE_SELECTOR)),
        opt("preferredDuringSchedulingIgnoredDuringExecution", list!(PREFERRED_SCHEDULING_TERM)),
    ]
);

def!(NODE_SELECTOR, "NodeSelector", [req("nodeSelectorTerms", list!(NODE_SELECTOR_TERM))]);

def!(
    NODE_SELECTOR_TERM,
    "NodeSelectorTerm",
    [opt("matchExpressions", list!(NODE_SELECTOR_REQUIREMENT)), opt("matchFields", list!(NODE_SELECTOR_REQUIREMENT)),]
);

def!(NODE_SELECTOR_REQUIREMENT, "NodeSelectorRequirement", [req("key", S), req("operator", S), opt("values", STRS),]);

def!(
    PREFERRED_SCHEDULING_TERM,
    "PreferredSchedulingTerm",
    [req("weight", I32), req("preference", st!(NODE_SELECTOR_TERM)),]
);

def!(
    POD_AFFINITY,
    "PodAffinity",
    [
        opt("requiredDuringSchedulingIgnoredDuringExecution", list!(POD_AFFINITY_TERM)),
        opt("preferredDuringSchedulingIgnoredDuringExecution", list!(WEIGHTED_POD_AFFINITY_TERM)),
    ]
);

def!(
    POD_ANTI_AFFINITY,
    "PodAntiAffinity",
    [
        opt("requiredDuringSchedulingIgnoredDuringExecution", list!(POD_AFFINITY_TERM)),
        opt("preferredDuringSchedulingIgnoredDuringExecution", list!(WEIGHTED_POD_AFFINITY_TERM)),
    ]
);

def!(
    WEIGHTED_POD_AFFINITY_TERM,
    "WeightedPodAffinityTerm",
    [req("weight", I32), req("podAffinityTerm", st!(POD_AFFINITY_TERM)),]
);

def!(
    POD_AFFINITY_TERM,
    "PodAffinityTerm",
    [
        ptr("labelSelector", st!(LABEL_SELECTOR)),
        opt("namespaces", STRS),
        req("topologyKey", S),
        ptr("namespaceSelector", st!(LABEL_SELECTOR)),
        opt("matchLabelKeys", STRS),
        opt("mismatchLabelKeys", STRS),
    ]
);

def!(
    TOLERATION,
    "Toleration",
    [opt("key", S), opt("operator", S), opt("value", S), opt("effect", S), ptr("tolerationSeconds", I64),]
);

def!(HOST_ALIAS, "HostAlias", [req("ip", S), opt("hostnames", STRS)]);

def!(
    POD_DNS_CONFIG,
    "PodDNSConfig",
    [opt("nameservers", STRS), opt("searches", STRS), opt("options", list!(POD_DNS_CONFIG_OPTION)),]
);

def!(POD_DNS_CONFIG_OPTION, "PodDNSConfigOption", [opt("name", S), ptr("value", S)]);

def!(POD_READINESS_GATE, "PodReadinessGate", [req("conditionType", S)]);

def!(
    TOPOLOGY_SPREAD_CONSTRAINT,
    "TopologySpreadConstraint",
    [
        req("maxSkew", I32),
        req("topologyKey", S),
        req("whenUnsatisfiable", S),
        ptr("labelSelector", st!(LABEL_SELECTOR)),
        ptr("minDomains", I32),
        ptr("nodeAffinityPolicy", S),
        ptr("nodeTaintsPolicy", S),
        opt("matchLabelKeys", STRS),
    ]
);

def!(POD_OS, "PodOS", [req("name", S)]);

def!(POD_SCHEDULING_GATE, "PodSchedulingGate", [req("name", S)]);

def!(
    POD_RESOURCE_CLAIM,
    "PodResourceClaim",
    [req("name", S), ptr("resourceClaimName", S), ptr("resourceClaimTemplateName", S),]
);

def!(WORKLOAD_REFERENCE, "WorkloadReference", [req("name", S), req("podGroup", S), opt("podGroupReplicaKey", S),]);

// ---- Containers ----

def!(
    CONTAINER,
    "Container",
    [
        req("name", S),
        opt("image", S),
        opt("command", STRS),
        opt("args", STRS),
        opt("workingDir", S),
        opt("ports", list!(CONTAINER_PORT)),
        opt("envFrom", list!(ENV_FROM_SOURCE)),
        opt("env", list!(ENV_VAR)),
        opt("resources", st!(RESOURCE_REQUIREMENTS)),
        opt("resizePolicy", list!(CONTAINER_RESIZE_POLICY)),
        ptr("restartPolicy", S),
        opt("restartPolicyRules", list!(CONTAINER_RESTART_RULE)),
        opt("volumeMounts", list!(VOLUME_MOUNT)),
        opt("volumeDevices", list!(VOLUME_DEVICE)),
        ptr("livenessProbe", st!(PROBE)),
        ptr("readinessProbe", st!(PROBE)),
        ptr("startupProbe", st!(PROBE)),
        ptr("lifecycle", st!(LIFECYCLE)),
        opt("terminationMessagePath", S),
        opt("terminationMessagePolicy", S),
        opt("imagePullPolicy", S),
        ptr("securityContext", st!(SECURITY_CONTEXT)),
        opt("stdin", B),
        opt("stdinOnce", B),
        opt("tty", B),
    ]
);

def!(EPHEMERAL_CONTAINER, "EphemeralContainer", [inline(&CONTAINER), opt("targetContainerName", S),]);

def!(
    CONTAINER_PORT,
    "ContainerPort",
    [opt("name", S), opt("hostPort", I32), req("containerPort", I32), opt("protocol", S), opt("hostIP", S),]
);

def!(
    ENV_FROM_SOURCE,
    "EnvFromSource",
    [opt("prefix", S), ptr("configMapRef", st!(CONFIG_MAP_ENV_SOURCE)), ptr("secretRef", st!(SECRET_ENV_SOURCE)),]
);

def!(CONFIG_MAP_ENV_SOURCE, "ConfigMapEnvSource", [inline(&LOCAL_OBJECT_REFERENCE), ptr("optional", B),]);

def!(SECRET_ENV_SOURCE, "SecretEnvSource", [inline(&LOCAL_OBJECT_REFERENCE), ptr("optional", B),]);

def!(ENV_VAR, "EnvVar", [req("name", S), opt("value", S), ptr("valueFrom", st!(ENV_VAR_SOURCE)),]);

def!(
    ENV_VAR_SOURCE,
    "EnvVarSource",
    [
        ptr("fieldRef", st!(OBJECT_FIELD_SELECTOR)),
        ptr("resourceFieldRef", st!(RESOURCE_FIELD_SELECTOR)),
        ptr("configMapKeyRef", st!(CONFIG_MAP_KEY_SELECTOR)),
        ptr("secretKeyRef", st!(SECRET_KEY_SELECTOR)),
        ptr("fileKeyRef", st!(FILE_KEY_SELECTOR)),
    ]
);

def!(OBJECT_FIELD_SELECTOR, "ObjectFieldSelector", [opt("apiVersion", S), req("fieldPath", S),]);

def!(
    RESOURCE_FIELD_SELECTOR,
    "ResourceFieldSelector",
    [
        opt("containerName", S),
        req("resource", S),
        // A non-pointer Quantity: `omitempty` never drops it, so an unset divisor prints "0".
        opt("divisor", Q),
    ]
);

def!(
    CONFIG_MAP_KEY_SELECTOR,
    "ConfigMapKeySelector",
    [inline(&LOCAL_OBJECT_REFERENCE), req("key", S), ptr("optional", B),]
);

def!(SECRET_KEY_SELECTOR, "SecretKeySelector", [inline(&LOCAL_OBJECT_REFERENCE), req("key", S), ptr("optional", B),]);

def!(FILE_KEY_SELECTOR, "FileKeySelector", [req("volumeName", S), req("path", S), req("key", S), ptr("optional", B),]);

def!(
    RESOURCE_REQUIREMENTS,
    "ResourceRequirements",
    [opt("limits", RESOURCE_LIST), opt("requests", RESOURCE_LIST), opt("claims", list!(RESOURCE_CLAIM)),]
);

def!(RESOURCE_CLAIM, "ResourceClaim", [req("name", S), opt("request", S)]);

def!(CONTAINER_RESIZE_POLICY, "ContainerResizePolicy", [req("resourceName", S), req("restartPolicy", S),]);

def!(
    CONTAINER_RESTART_RULE,
    "ContainerRestartRule",
    [opt("action", S), ptr("exitCodes", st!(CONTAINER_RESTART_RULE_ON_EXIT_CODES)),]
);

def!(
    CONTAINER_RESTART_RULE_ON_EXIT_CODES,
    "ContainerRestartRuleOnExitCodes",
    [opt("operator", S), opt("values", I32S),]
);

def!(
    VOLUME_MOUNT,
    "VolumeMount",
    [
        req("name", S),
        opt("readOnly", B),
        ptr("recursiveReadOnly", S),
        req("mountPath", S),
        opt("subPath", S),
        ptr("mountPropagation", S),
        opt("subPathExpr", S),
    ]
);

def!(VOLUME_DEVICE, "VolumeDevice", [req("name", S), req("devicePath", S)]);

def!(
    PROBE,
    "Probe",
    [
        inline(&PROBE_HANDLER),
        opt("initialDelaySeconds", I32),
        opt("timeoutSeconds", I32),
        opt("periodSeconds", I32),
        opt("successThreshold", I32),
        opt("failureThreshold", I32),
        ptr("terminationGracePeriodSeconds", I64),
    ]
);

def!(
    PROBE_HANDLER,
    "ProbeHandler",
    [
        ptr("exec", st!(EXEC_ACTION)),
        ptr("httpGet", st!(HTTP_GET_ACTION)),
        ptr("tcpSocket", st!(TCP_SOCKET_ACTION)),
        ptr("grpc", st!(GRPC_ACTION)),
    ]
);

def!(EXEC_ACTION, "ExecAction", [opt("command", STRS)]);

def!(
    HTTP_GET_ACTION,
    "HTTPGetAction",
    [opt("path", S), req("port", IOS), opt("host", S), opt("scheme", S), opt("httpHeaders", list!(HTTP_HEADER)),]
);

def!(HTTP_HEADER, "HTTPHeader", [req("name", S), req("value", S)]);

def!(TCP_SOCKET_ACTION, "TCPSocketAction", [req("port", IOS), opt("host", S)]);

def!(GRPC_ACTION, "GRPCAction", [req("port", I32), ptr_req("service", S)]);

def!(
    LIFECYCLE,
    "Lifecycle",
    [ptr("postStart", st!(LIFECYCLE_HANDLER)), ptr("preStop", st!(LIFECYCLE_HANDLER)), ptr("stopSignal", S),]
);

def!(
    LIFECYCLE_HANDLER,
    "LifecycleHandler",
    [
        ptr("exec", st!(EXEC_ACTION)),
        ptr("httpGet", st!(HTTP_GET_ACTION)),
        ptr("tcpSocket", st!(TCP_SOCKET_ACTION)),
        ptr("sleep", st!(SLEEP_ACTION)),
    ]
);

def!(SLEEP_ACTION, "SleepAction", [req("seconds", I64)]);

def!(
    SECURITY_CONTEXT,
    "SecurityContext",
    [
        ptr("capabilities", st!(CAPABILITIES)),
        ptr("privileged", B),
        ptr("seLinuxOptions", st!(SE_LINUX_OPTIONS)),
        ptr("windowsOptions", st!(WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        ptr("runAsUser", I64),
        ptr("runAsGroup", I64),
        ptr("runAsNonRoot", B),
        ptr("readOnlyRootFilesystem", B),
        ptr("allowPrivilegeEscalation", B),
        ptr("procMount", S),
        ptr("seccompProfile", st!(SECCOMP_PROFILE)),
        ptr("appArmorProfile", st!(APP_ARMOR_PROFILE)),
    ]
);

def!(CAPABILITIES, "Capabilities", [opt("add", STRS), opt("drop", STRS)]);

// ---- Volumes ----

def!(VOLUME, "Volume", [req("name", S), inline(&VOLUME_SOURCE)]);

def!(
    VOLUME_SOURCE,
    "VolumeSource",
    [
        ptr("hostPath", st!(HOST_PATH_VOLUME_SOURCE)),
        ptr("emptyDir", st!(EMPTY_DIR_VOLUME_SOURCE)),
        ptr("gcePersistentDisk", st!(GCE_PERSISTENT_DISK_VOLUME_SOURCE)),
        ptr("awsElasticBlockStore", st!(AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE)),
        ptr("gitRepo", st!(GIT_REPO_VOLUME_SOURCE)),
        ptr("secret", st!(SECRET_VOLUME_SOURCE)),
        ptr("nfs", st!(NFS_VOLUME_SOURCE)),
        ptr("iscsi", st!(ISCSI_VOLUME_SOURCE)),
        ptr("glusterfs", st!(GLUSTERFS_VOLUME_SOURCE)),
        ptr("persistentVolumeClaim", st!(PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE)),
        ptr("rbd", st!(RBD_VOLUME_SOURCE)),
        ptr("flexVolume", st!(FLEX_VOLUME_SOURCE)),
        ptr("cinder", st!(CINDER_VOLUME_SOURCE)),
        ptr("cephfs", st!(CEPH_FS_VOLUME_SOURCE)),
        ptr("flocker", st!(FLOCKER_VOLUME_SOURCE)),
        ptr("downwardAPI", st!(DOWNWARD_API_VOLUME_SOURCE)),
        ptr("fc", st!(FC_VOLUME_SOURCE)),
        ptr("azureFile", st!(AZURE_FILE_VOLUME_SOURCE)),
        ptr("configMap", st!(CONFIG_MAP_VOLUME_SOURCE)),
        ptr("vsphereVolume", st!(VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE)),
        ptr("quobyte", st!(QUOBYTE_VOLUME_SOURCE)),
        ptr("azureDisk", st!(AZURE_DISK_VOLUME_SOURCE)),
        ptr("photonPersistentDisk", st!(PHOTON_PERSISTENT_DISK_VOLUME_SOURCE)),
        ptr("projected", st!(PROJECTED_VOLUME_SOURCE)),
        ptr("portworxVolume", st!(PORTWORX_VOLUME_SOURCE)),
        ptr("scaleIO", st!(SCALE_IO_VOLUME_SOURCE)),
        ptr("storageos", st!(STORAGE_OS_VOLUME_SOURCE)),
        ptr("csi", st!(CSI_VOLUME_SOURCE)),
        ptr("ephemeral", st!(EPHEMERAL_VOLUME_SOURCE)),
        ptr("image", st!(IMAGE_VOLUME_SOURCE)),
    ]
);

def!(HOST_PATH_VOLUME_SOURCE, "HostPathVolumeSource", [req("path", S), ptr("type", S)]);

def!(EMPTY_DIR_VOLUME_SOURCE, "EmptyDirVolumeSource", [opt("medium", S), ptr("sizeLimit", Q),]);

def!(
    GCE_PERSISTENT_DISK_VOLUME_SOURCE,
    "GCEPersistentDiskVolumeSource",
    [req("pdName", S), opt("fsType", S), opt("partition", I32), opt("readOnly", B),]
);

def!(
    AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE,
    "AWSElasticBlockStoreVolumeSource",
    [req("volumeID", S), opt("fsType", S), opt("partition", I32), opt("readOnly", B),]
);

def!(GIT_REPO_VOLUME_SOURCE, "GitRepoVolumeSource", [req("repository", S), opt("revision", S), opt("directory", S),]);

def!(
    SECRET_VOLUME_SOURCE,
    "SecretVolumeSource",
    [opt("secretName", S), opt("items", list!(KEY_TO_PATH)), ptr("defaultMode", I32), ptr("optional", B),]
);

def!(NFS_VOLUME_SOURCE, "NFSVolumeSource", [req("server", S), req("path", S), opt("readOnly", B),]);

def!(
    ISCSI_VOLUME_SOURCE,
    "ISCSIVolumeSource",
    [
        req("targetPortal", S),
        req("iqn", S),
        req("lun", I32),
        opt("iscsiInterface", S),
        opt("fsType", S),
        opt("readOnly", B),
        opt("portals", STRS),
        opt("chapAuthDiscovery", B),
        opt("chapAuthSession", B),
        ptr("secretRef", st!(LOCAL_OBJECT_REFERENCE)),
        ptr("initiatorName", S),
    ]
);

def!(GLUSTERFS_VOLUME_SOURCE, "GlusterfsVolumeSource", [req("endpoints", S), req("path", S), opt("readOnly", B),]);

def!(
    PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE,
    "PersistentVolumeClaimVolumeSource",
    [req("claimName", S), opt("readOnly", B),]
);

def!(
    RBD_VOLUME_SOURCE,
    "RBDVolumeSource",
    [
        req("monitors", STRS),
        req("image", S),
        opt("fsType", S),
        opt("pool", S),
        opt("user", S),
        opt("keyring", S),
        ptr("secretRef", st!(LOCAL_OBJECT_REFERENCE)),
        opt("readOnly", B),
    ]
);

def!(
    FLEX_VOLUME_SOURCE,
    "FlexVolumeSource",
    [
        req("driver", S),
        opt("fsType", S),
        ptr("secretRef", st!(LOCAL_OBJECT_REFERENCE)),
        opt("readOnly", B),
        opt("options", STR_MAP),
    ]
);

def!(
    CINDER_VOLUME_SOURCE,
    "CinderVolumeSource",
    [req("volumeID", S), opt("fsType", S), opt("readOnly", B), ptr("secretRef", st!(LOCAL_OBJECT_REFERENCE)),]
);

def!(
    CEPH_FS_VOLUME_SOURCE,
    "CephFSVolumeSource",
    [
        req("monitors", STRS),
        opt("path", S),
        opt("user", S),
        opt("secretFile", S),
        ptr("secretRef", st!(LOCAL_OBJECT_REFERENCE)),
        opt("readOnly", B),
    ]
);

def!(FLOCKER_VOLUME_SOURCE, "FlockerVolumeSource", [opt("datasetName", S), opt("datasetUUID", S),]);

def!(
    DOWNWARD_API_VOLUME_SOURCE,
    "DownwardAPIVolumeSource",
    [opt("items", list!(DOWNWARD_API_VOLUME_FILE)), ptr("defaultMode", I32),]
);

def!(
    DOWNWARD_API_VOLUME_FILE,
    "DownwardAPIVolumeFile",
    [
        req("path", S),
        ptr("fieldRef", st!(OBJECT_FIELD_SELECTOR)),
        ptr("resourceFieldRef", st!(RESOURCE_FIELD_SELECTOR)),
        ptr("mode", I32),
    ]
);

def!(
    FC_VOLUME_SOURCE,
    "FCVolumeSource",
    [opt("targetWWNs", STRS), ptr("lun", I32), opt("fsType", S), opt("readOnly", B), opt("wwids", STRS),]
);

def!(
    AZURE_FILE_VOLUME_SOURCE,
    "AzureFileVolumeSource",
    [req("secretName", S), req("shareName", S), opt("readOnly", B),]
);

def!(
    CONFIG_MAP_VOLUME_SOURCE,
    "ConfigMapVolumeSource",
    [inline(&LOCAL_OBJECT_REFERENCE), opt("items", list!(KEY_TO_PATH)), ptr("defaultMode", I32), ptr("optional", B),]
);

def!(
    VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE,
    "VsphereVirtualDiskVolumeSource",
    [req("volumePath", S), opt("fsType", S), opt("storagePolicyName", S), opt("storagePolicyID", S),]
);

def!(
    QUOBYTE_VOLUME_SOURCE,
    "QuobyteVolumeSource",
    [req("registry", S), req("volume", S), opt("readOnly", B), opt("user", S), opt("group", S), opt("tenant", S),]
);

def!(
    AZURE_DISK_VOLUME_SOURCE,
    "AzureDiskVolumeSource",
    [
        req("diskName", S),
        req("diskURI", S),
        ptr("cachingMode", S),
        ptr("fsType", S),
        ptr("readOnly", B),
        ptr("kind", S),
    ]
);

def!(PHOTON_PERSISTENT_DISK_VOLUME_SOURCE, "PhotonPersistentDiskVolumeSource", [req("pdID", S), opt("fsType", S),]);

def!(
    PROJECTED_VOLUME_SOURCE,
    "ProjectedVolumeSource",
    [req("sources", list!(VOLUME_PROJECTION)), ptr("defaultMode", I32),]
);

def!(
    VOLUME_PROJECTION,
    "VolumeProjection",
    [
        ptr("secret", st!(SECRET_PROJECTION)),
        ptr("downwardAPI", st!(DOWNWARD_API_PROJECTION)),
        ptr("configMap", st!(CONFIG_MAP_PROJECTION)),
        ptr("serviceAccountToken", st!(SERVICE_ACCOUNT_TOKEN_PROJECTION)),
        ptr("clusterTrustBundle", st!(CLUSTER_TRUST_BUNDLE_PROJECTION)),
        ptr("podCertificate", st!(POD_CERTIFICATE_PROJECTION)),
    ]
);

def!(
    SECRET_PROJECTION,
    "SecretProjection",
    [inline(&LOCAL_OBJECT_REFERENCE), opt("items", list!(KEY_TO_PATH)), ptr("optional", B),]
);

def!(DOWNWARD_API_PROJECTION, "DownwardAPIProjection", [opt("items", list!(DOWNWARD_API_VOLUME_FILE)),]);

def!(
    CONFIG_MAP_PROJECTION,
    "ConfigMapProjection",
    [inline(&LOCAL_OBJECT_REFERENCE), opt("items", list!(KEY_TO_PATH)), ptr("optional", B),]
);

def!(
    SERVICE_ACCOUNT_TOKEN_PROJECTION,
    "ServiceAccountTokenProjection",
    [opt("audience", S), ptr("expirationSeconds", I64), req("path", S),]
);

def!(
    CLUSTER_TRUST_BUNDLE_PROJECTION,
    "ClusterTrustBundleProjection",
    [
        ptr("name", S),
        ptr("signerName", S),
        ptr("labelSelector", st!(LABEL_SELECTOR)),
        ptr("optional", B),
        req("path", S),
    ]
);

def!(
    POD_CERTIFICATE_PROJECTION,
    "PodCertificateProjection",
    [
        opt("signerName", S),
        opt("keyType", S),
        ptr("maxExpirationSeconds", I32),
        opt("credentialBundlePath", S),
        opt("keyPath", S),
        opt("certificateChainPath", S),
        opt("userAnnotations", STR_MAP),
    ]
);

def!(PORTWORX_VOLUME_SOURCE, "PortworxVolumeSource", [req("volumeID", S), opt("fsType", S), opt("readOnly", B),]);

def!(
    SCALE_IO_VOLUME_SOURCE,
    "ScaleIOVolumeSource",
    [
        req("gateway", S),
        req("system", S),
        ptr_req("secretRef", st!(LOCAL_OBJECT_REFERENCE)),
        opt("sslEnabled", B),
        opt("protectionDomain", S),
        opt("storagePool", S),
        opt("storageMode", S),
        opt("volumeName", S),
        opt("fsType", S),
        opt("readOnly", B),
    ]
);

def!(
    STORAGE_OS_VOLUME_SOURCE,
    "StorageOSVolumeSource",
    [
        opt("volumeName", S),
        opt("volumeNamespace", S),
        opt("fsType", S),
        opt("readOnly", B),
        ptr("secretRef", st!(LOCAL_OBJECT_REFERENCE)),
    ]
);

def!(
    CSI_VOLUME_SOURCE,
    "CSIVolumeSource",
    [
        req("driver", S),
        ptr("readOnly", B),
        ptr("fsType", S),
        opt("volumeAttributes", STR_MAP),
        ptr("nodePublishSecretRef", st!(LOCAL_OBJECT_REFERENCE)),
    ]
);

def!(
    EPHEMERAL_VOLUME_SOURCE,
    "EphemeralVolumeSource",
    [ptr("volumeClaimTemplate", st!(PERSISTENT_VOLUME_CLAIM_TEMPLATE)),]
);

def!(
    PERSISTENT_VOLUME_CLAIM_TEMPLATE,
    "PersistentVolumeClaimTemplate",
    [opt("metadata", st!(OBJECT_META)), req("spec", st!(PERSISTENT_VOLUME_CLAIM_SPEC)),]
);

def!(
    PERSISTENT_VOLUME_CLAIM_SPEC,
    "PersistentVolumeClaimSpec",
    [
        opt("accessModes", STRS),
        ptr("selector", st!(LABEL_SELECTOR)),
        opt("resources", st!(VOLUME_RESOURCE_REQUIREMENTS)),
        opt("volumeName", S),
        ptr("storageClassName", S),
        ptr("volumeMode", S),
        ptr("dataSource", st!(TYPED_LOCAL_OBJECT_REFERENCE)),
        ptr("dataSourceRef", st!(TYPED_OBJECT_REFERENCE)),
        ptr("volumeAttributesClassName", S),
    ]
);

def!(
    VOLUME_RESOURCE_REQUIREMENTS,
    "VolumeResourceRequirements",
    [opt("limits", RESOURCE_LIST), opt("requests", RESOURCE_LIST),]
);

def!(
    TYPED_LOCAL_OBJECT_REFERENCE,
    "TypedLocalObjectReference",
    [ptr_req("apiGroup", S), req("kind", S), req("name", S),]
);

def!(
    TYPED_OBJECT_REFERENCE,
    "TypedObjectReference",
    [ptr_req("apiGroup", S), req("kind", S), req("name", S), ptr("namespace", S),]
);

def!(IMAGE_VOLUME_SOURCE, "ImageVolumeSource", [opt("reference", S), opt("pullPolicy", S)]);

def!(KEY_TO_PATH, "KeyToPath", [req("key", S), req("path", S), ptr("mode", I32)]);

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every struct reachable from the root and returns them (each once).
    fn reachable() -> Vec<&'static Def> {
        fn visit_ty(ty: &Ty, seen: &mut Vec<&'static Def>) {
            match *ty {
                Ty::Struct(d) => visit(d, seen),
                Ty::List(t) | Ty::Map(t) => visit_ty(t, seen),
                _ => {}
            }
        }
        fn visit(d: &'static Def, seen: &mut Vec<&'static Def>) {
            if seen.iter().any(|s| s.name == d.name) {
                return;
            }
            seen.push(d);
            for f in d.fields {
                visit_ty(&f.ty, seen);
            }
        }
        let mut seen = Vec::new();
        visit(&POD_TEMPLATE_SPEC, &mut seen);
        seen
    }

    #[test]
    fn no_struct_repeats_a_json_key() {
        for def in reachable() {
            let keys = def.keys();
            for (i, k) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(k), "{} has {k} twice", def.name);
            }
        }
    }

    #[test]
    fn inline_fields_are_unnamed_non_pointer_structs() {
        for def in reachable() {
            for f in def.fields.iter().filter(|f| f.name.is_empty()) {
                assert!(matches!(f.ty, Ty::Struct(_)) && !f.ptr && !f.omitempty, "{}", def.name);
            }
        }
    }

    #[test]
    fn covers_the_required_types() {
        let names: Vec<&str> = reachable().iter().map(|d| d.name).collect();
        for wanted in [
            "ObjectMeta",
            "PodSpec",
            "Container",
            "EphemeralContainer",
            "ContainerPort",
            "EnvVar",
            "EnvVarSource",
            "EnvFromSource",
            "ResourceRequirements",
            "ResourceClaim",
            "VolumeMount",
            "VolumeDevice",
            "Probe",
            "ProbeHandler",
            "ExecAction",
            "HTTPGetAction",
            "HTTPHeader",
            "TCPSocketAction",
            "GRPCAction",
            "Lifecycle",
            "LifecycleHandler",
            "SecurityContext",
            "PodSecurityContext",
            "Capabilities",
            "SELinuxOptions",
            "SeccompProfile",
            "AppArmorProfile",
            "WindowsSecurityContextOptions",
            "Sysctl",
            "Volume",
            "VolumeSource",
            "KeyToPath",
            "Affinity",
            "NodeAffinity",
            "PodAffinity",
            "PodAntiAffinity",
            "LabelSelector",
            "LabelSelectorRequirement",
            "Toleration",
            "TopologySpreadConstraint",
            "HostAlias",
            "LocalObjectReference",
            "PodDNSConfig",
            "PodDNSConfigOption",
            "PodReadinessGate",
            "ContainerResizePolicy",
            "PodSchedulingGate",
            "PodResourceClaim",
            "PodOS",
        ] {
            assert!(names.contains(&wanted), "{wanted} is not reachable");
        }
    }

    #[test]
    fn probe_handler_fields_come_first() {
        assert_eq!(PROBE.keys()[..5], ["exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds"]);
        assert_eq!(VOLUME.keys()[..3], ["name", "hostPath", "emptyDir"]);
    }
}
