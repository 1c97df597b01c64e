//! The schema table: for every protobuf message we decode, its fields as
//! `tag jsonName type`, in the order of upstream's Go structs (so of the JSON API).
//!
//! Types: `str`, `bool`, `i32`, `i64`, `bytes` (JSON: base64), `qty` (resource.Quantity, JSON:
//! string), `time` / `mtime` (meta/v1 Time / MicroTime, JSON: RFC 3339 seconds / microseconds),
//! `ios` (IntOrString, JSON: number or string), `raw` (FieldsV1, JSON: the raw JSON it holds),
//! a message name, `[T]` (repeated), `{T}` (map<string, T>), and `^Name` with JSON name `_` for a
//! struct embedded inline in Go (`json:",inline"`): its fields land in the parent JSON object.
//! A trailing `?` marks a non-pointer `omitempty` Go field: go-to-protobuf always writes it, the
//! JSON API leaves it out when zero, so do we. Every other scalar is kept as sent.
//!
//! Facts (names, numbers, types, pointer-ness and `omitempty`) are from upstream's
//! `generated.proto` and `types.go` of k8s.io/api and k8s.io/apimachinery v0.33, for every message
//! reachable from the kinds in [`KINDS`]. Names are those of k8s.io/api/core/v1, meta/v1, apps/v1,
//! autoscaling/v1, coordination/v1 and policy/v1; names clashing with those carry their group as a
//! prefix (`discovery.`, `events.`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// `(apiVersion, kind)` of the objects we decode, and their message. `DeleteOptions` is accepted
/// under every apiVersion (client-go sends the group version of the resource being deleted).
pub(super) const KINDS: &[(&str, &str, &str)] = &[
    ("v1", "Namespace", "Namespace"),
    ("v1", "ConfigMap", "ConfigMap"),
    ("v1", "Secret", "Secret"),
    ("v1", "ServiceAccount", "ServiceAccount"),
    ("v1", "Service", "Service"),
    ("v1", "Endpoints", "Endpoints"),
    ("v1", "Node", "Node"),
    ("v1", "Pod", "Pod"),
    ("v1", "Binding", "Binding"),
    ("v1", "Event", "Event"),
    ("apps/v1", "Deployment", "Deployment"),
    ("apps/v1", "ReplicaSet", "ReplicaSet"),
    ("autoscaling/v1", "Scale", "Scale"),
    (
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "discovery.EndpointSlice",
    ),
    ("coordination.k8s.io/v1", "Lease", "Lease"),
    ("events.k8s.io/v1", "Event", "events.Event"),
    ("policy/v1", "Eviction", "Eviction"),
    ("policy/v1beta1", "Eviction", "Eviction"),
];

/// The message of `DeleteOptions`, whatever its apiVersion.
pub(super) const DELETE_OPTIONS: &str = "DeleteOptions";

const TABLE: &str = "
OwnerReference { 5 apiVersion str; 1 kind str; 3 name str; 4 uid str; 6 controller bool;
    7 blockOwnerDeletion bool }
ManagedFieldsEntry { 1 manager str?; 2 operation str?; 3 apiVersion str?; 4 time time;
    6 fieldsType str?; 7 fieldsV1 raw; 8 subresource str? }
ObjectMeta { 1 name str?; 2 generateName str?; 3 namespace str?; 4 selfLink str?; 5 uid str?;
    6 resourceVersion str?; 7 generation i64?; 8 creationTimestamp time; 9 deletionTimestamp time;
    10 deletionGracePeriodSeconds i64; 11 labels {str}; 12 annotations {str};
    13 ownerReferences [OwnerReference]; 14 finalizers [str];
    17 managedFields [ManagedFieldsEntry] }
NamespaceSpec { 1 finalizers [str] }
NamespaceCondition { 1 type str; 2 status str; 4 lastTransitionTime time; 5 reason str?;
    6 message str? }
NamespaceStatus { 1 phase str?; 2 conditions [NamespaceCondition] }
Namespace { 1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus }
ConfigMap { 1 metadata ObjectMeta; 4 immutable bool; 2 data {str}; 3 binaryData {bytes} }
Secret { 1 metadata ObjectMeta; 5 immutable bool; 2 data {bytes}; 4 stringData {str}; 3 type str? }
ObjectReference { 1 kind str?; 2 namespace str?; 3 name str?; 4 uid str?; 5 apiVersion str?;
    6 resourceVersion str?; 7 fieldPath str? }
LocalObjectReference { 1 name str? }
ServiceAccount { 1 metadata ObjectMeta; 2 secrets [ObjectReference];
    3 imagePullSecrets [LocalObjectReference]; 4 automountServiceAccountToken bool }
ServicePort { 1 name str?; 2 protocol str?; 6 appProtocol str; 3 port i32; 4 targetPort ios;
    5 nodePort i32? }
ClientIPConfig { 1 timeoutSeconds i32 }
SessionAffinityConfig { 1 clientIP ClientIPConfig }
ServiceSpec { 1 ports [ServicePort]; 2 selector {str}; 3 clusterIP str?; 18 clusterIPs [str];
    4 type str?; 5 externalIPs [str]; 7 sessionAffinity str?; 8 loadBalancerIP str?;
    9 loadBalancerSourceRanges [str]; 10 externalName str?; 11 externalTrafficPolicy str?;
    12 healthCheckNodePort i32?; 13 publishNotReadyAddresses bool?;
    14 sessionAffinityConfig SessionAffinityConfig; 19 ipFamilies [str]; 17 ipFamilyPolicy str;
    20 allocateLoadBalancerNodePorts bool; 21 loadBalancerClass str; 22 internalTrafficPolicy str;
    23 trafficDistribution str }
PortStatus { 1 port i32; 2 protocol str; 3 error str }
LoadBalancerIngress { 1 ip str?; 2 hostname str?; 3 ipMode str; 4 ports [PortStatus] }
LoadBalancerStatus { 1 ingress [LoadBalancerIngress] }
Condition { 1 type str; 2 status str; 3 observedGeneration i64?; 4 lastTransitionTime time;
    5 reason str; 6 message str }
ServiceStatus { 1 loadBalancer LoadBalancerStatus; 2 conditions [Condition] }
Service { 1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus }
EndpointAddress { 1 ip str; 3 hostname str?; 4 nodeName str; 2 targetRef ObjectReference }
EndpointPort { 1 name str?; 2 port i32; 3 protocol str?; 4 appProtocol str }
EndpointSubset { 1 addresses [EndpointAddress]; 2 notReadyAddresses [EndpointAddress];
    3 ports [EndpointPort] }
Endpoints { 1 metadata ObjectMeta; 2 subsets [EndpointSubset] }
Taint { 1 key str; 2 value str?; 3 effect str; 4 timeAdded time }
ConfigMapNodeConfigSource { 1 namespace str; 2 name str; 3 uid str?; 4 resourceVersion str?;
    5 kubeletConfigKey str }
NodeConfigSource { 2 configMap ConfigMapNodeConfigSource }
NodeSpec { 1 podCIDR str?; 7 podCIDRs [str]; 3 providerID str?; 4 unschedulable bool?;
    5 taints [Taint]; 6 configSource NodeConfigSource; 2 externalID str? }
NodeCondition { 1 type str; 2 status str; 3 lastHeartbeatTime time; 4 lastTransitionTime time;
    5 reason str?; 6 message str? }
NodeAddress { 1 type str; 2 address str }
DaemonEndpoint { 1 Port i32 }
NodeDaemonEndpoints { 1 kubeletEndpoint DaemonEndpoint }
NodeSwapStatus { 1 capacity i64 }
NodeSystemInfo { 1 machineID str; 2 systemUUID str; 3 bootID str; 4 kernelVersion str;
    5 osImage str; 6 containerRuntimeVersion str; 7 kubeletVersion str; 8 kubeProxyVersion str;
    9 operatingSystem str; 10 architecture str; 11 swap NodeSwapStatus }
ContainerImage { 1 names [str]; 2 sizeBytes i64? }
AttachedVolume { 1 name str; 2 devicePath str }
NodeConfigStatus { 1 assigned NodeConfigSource; 2 active NodeConfigSource;
    3 lastKnownGood NodeConfigSource; 4 error str? }
NodeRuntimeHandlerFeatures { 1 recursiveReadOnlyMounts bool; 2 userNamespaces bool }
NodeRuntimeHandler { 1 name str; 2 features NodeRuntimeHandlerFeatures }
NodeFeatures { 1 supplementalGroupsPolicy bool }
NodeStatus { 1 capacity {qty}; 2 allocatable {qty}; 3 phase str?; 4 conditions [NodeCondition];
    5 addresses [NodeAddress]; 6 daemonEndpoints NodeDaemonEndpoints; 7 nodeInfo NodeSystemInfo;
    8 images [ContainerImage]; 9 volumesInUse [str]; 10 volumesAttached [AttachedVolume];
    11 config NodeConfigStatus; 12 runtimeHandlers [NodeRuntimeHandler]; 13 features NodeFeatures }
Node { 1 metadata ObjectMeta; 2 spec NodeSpec; 3 status NodeStatus }
HostPathVolumeSource { 1 path str; 2 type str }
EmptyDirVolumeSource { 1 medium str?; 2 sizeLimit qty }
GCEPersistentDiskVolumeSource { 1 pdName str; 2 fsType str?; 3 partition i32?; 4 readOnly bool? }
AWSElasticBlockStoreVolumeSource { 1 volumeID str; 2 fsType str?; 3 partition i32?;
    4 readOnly bool? }
GitRepoVolumeSource { 1 repository str; 2 revision str?; 3 directory str? }
KeyToPath { 1 key str; 2 path str; 3 mode i32 }
SecretVolumeSource { 1 secretName str?; 2 items [KeyToPath]; 3 defaultMode i32; 4 optional bool }
NFSVolumeSource { 1 server str; 2 path str; 3 readOnly bool? }
ISCSIVolumeSource { 1 targetPortal str; 2 iqn str; 3 lun i32; 4 iscsiInterface str?; 5 fsType str?;
    6 readOnly bool?; 7 portals [str]; 8 chapAuthDiscovery bool?; 11 chapAuthSession bool?;
    10 secretRef LocalObjectReference; 12 initiatorName str }
GlusterfsVolumeSource { 1 endpoints str; 2 path str; 3 readOnly bool? }
PersistentVolumeClaimVolumeSource { 1 claimName str; 2 readOnly bool? }
RBDVolumeSource { 1 monitors [str]; 2 image str; 3 fsType str?; 4 pool str?; 5 user str?;
    6 keyring str?; 7 secretRef LocalObjectReference; 8 readOnly bool? }
FlexVolumeSource { 1 driver str; 2 fsType str?; 3 secretRef LocalObjectReference; 4 readOnly bool?;
    5 options {str} }
CinderVolumeSource { 1 volumeID str; 2 fsType str?; 3 readOnly bool?;
    4 secretRef LocalObjectReference }
CephFSVolumeSource { 1 monitors [str]; 2 path str?; 3 user str?; 4 secretFile str?;
    5 secretRef LocalObjectReference; 6 readOnly bool? }
FlockerVolumeSource { 1 datasetName str?; 2 datasetUUID str? }
ObjectFieldSelector { 1 apiVersion str?; 2 fieldPath str }
ResourceFieldSelector { 1 containerName str?; 2 resource str; 3 divisor qty }
DownwardAPIVolumeFile { 1 path str; 2 fieldRef ObjectFieldSelector;
    3 resourceFieldRef ResourceFieldSelector; 4 mode i32 }
DownwardAPIVolumeSource { 1 items [DownwardAPIVolumeFile]; 2 defaultMode i32 }
FCVolumeSource { 1 targetWWNs [str]; 2 lun i32; 3 fsType str?; 4 readOnly bool?; 5 wwids [str] }
AzureFileVolumeSource { 1 secretName str; 2 shareName str; 3 readOnly bool? }
ConfigMapVolumeSource { 1 _ ^LocalObjectReference; 2 items [KeyToPath]; 3 defaultMode i32;
    4 optional bool }
VsphereVirtualDiskVolumeSource { 1 volumePath str; 2 fsType str?; 3 storagePolicyName str?;
    4 storagePolicyID str? }
QuobyteVolumeSource { 1 registry str; 2 volume str; 3 readOnly bool?; 4 user str?; 5 group str?;
    6 tenant str? }
AzureDiskVolumeSource { 1 diskName str; 2 diskURI str; 3 cachingMode str; 4 fsType str;
    5 readOnly bool; 6 kind str }
PhotonPersistentDiskVolumeSource { 1 pdID str; 2 fsType str? }
SecretProjection { 1 _ ^LocalObjectReference; 2 items [KeyToPath]; 4 optional bool }
DownwardAPIProjection { 1 items [DownwardAPIVolumeFile] }
ConfigMapProjection { 1 _ ^LocalObjectReference; 2 items [KeyToPath]; 4 optional bool }
ServiceAccountTokenProjection { 1 audience str?; 2 expirationSeconds i64; 3 path str }
LabelSelectorRequirement { 1 key str; 2 operator str; 3 values [str] }
LabelSelector { 1 matchLabels {str}; 2 matchExpressions [LabelSelectorRequirement] }
ClusterTrustBundleProjection { 1 name str; 2 signerName str; 3 labelSelector LabelSelector;
    5 optional bool; 4 path str }
VolumeProjection { 1 secret SecretProjection; 2 downwardAPI DownwardAPIProjection;
    3 configMap ConfigMapProjection; 4 serviceAccountToken ServiceAccountTokenProjection;
    5 clusterTrustBundle ClusterTrustBundleProjection }
ProjectedVolumeSource { 1 sources [VolumeProjection]; 2 defaultMode i32 }
PortworxVolumeSource { 1 volumeID str; 2 fsType str?; 3 readOnly bool? }
ScaleIOVolumeSource { 1 gateway str; 2 system str; 3 secretRef LocalObjectReference;
    4 sslEnabled bool?; 5 protectionDomain str?; 6 storagePool str?; 7 storageMode str?;
    8 volumeName str?; 9 fsType str?; 10 readOnly bool? }
StorageOSVolumeSource { 1 volumeName str?; 2 volumeNamespace str?; 3 fsType str?; 4 readOnly bool?;
    5 secretRef LocalObjectReference }
CSIVolumeSource { 1 driver str; 2 readOnly bool; 3 fsType str; 4 volumeAttributes {str};
    5 nodePublishSecretRef LocalObjectReference }
VolumeResourceRequirements { 1 limits {qty}; 2 requests {qty} }
TypedLocalObjectReference { 1 apiGroup str; 2 kind str; 3 name str }
TypedObjectReference { 1 apiGroup str; 2 kind str; 3 name str; 4 namespace str }
PersistentVolumeClaimSpec { 1 accessModes [str]; 4 selector LabelSelector;
    2 resources VolumeResourceRequirements; 3 volumeName str?; 5 storageClassName str;
    6 volumeMode str; 7 dataSource TypedLocalObjectReference; 8 dataSourceRef TypedObjectReference;
    9 volumeAttributesClassName str }
PersistentVolumeClaimTemplate { 1 metadata ObjectMeta; 2 spec PersistentVolumeClaimSpec }
EphemeralVolumeSource { 1 volumeClaimTemplate PersistentVolumeClaimTemplate }
ImageVolumeSource { 1 reference str?; 2 pullPolicy str? }
VolumeSource { 1 hostPath HostPathVolumeSource; 2 emptyDir EmptyDirVolumeSource;
    3 gcePersistentDisk GCEPersistentDiskVolumeSource;
    4 awsElasticBlockStore AWSElasticBlockStoreVolumeSource; 5 gitRepo GitRepoVolumeSource;
    6 secret SecretVolumeSource; 7 nfs NFSVolumeSource; 8 iscsi ISCSIVolumeSource;
    9 glusterfs GlusterfsVolumeSource; 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource;
    11 rbd RBDVolumeSource; 12 flexVolume FlexVolumeSource; 13 cinder CinderVolumeSource;
    14 cephfs CephFSVolumeSource; 15 flocker FlockerVolumeSource;
    16 downwardAPI DownwardAPIVolumeSource; 17 fc FCVolumeSource;
    18 azureFile AzureFileVolumeSource; 19 configMap ConfigMapVolumeSource;
    20 vsphereVolume VsphereVirtualDiskVolumeSource; 21 quobyte QuobyteVolumeSource;
    22 azureDisk AzureDiskVolumeSource; 23 photonPersistentDisk PhotonPersistentDiskVolumeSource;
    26 projected ProjectedVolumeSource; 24 portworxVolume PortworxVolumeSource;
    25 scaleIO ScaleIOVolumeSource; 27 storageos StorageOSVolumeSource; 28 csi CSIVolumeSource;
    29 ephemeral EphemeralVolumeSource; 30 image ImageVolumeSource }
Volume { 1 name str; 2 _ ^VolumeSource }
ContainerPort { 1 name str?; 2 hostPort i32?; 3 containerPort i32; 4 protocol str?; 5 hostIP str? }
ConfigMapEnvSource { 1 _ ^LocalObjectReference; 2 optional bool }
SecretEnvSource { 1 _ ^LocalObjectReference; 2 optional bool }
EnvFromSource { 1 prefix str?; 2 configMapRef ConfigMapEnvSource; 3 secretRef SecretEnvSource }
ConfigMapKeySelector { 1 _ ^LocalObjectReference; 2 key str; 3 optional bool }
SecretKeySelector { 1 _ ^LocalObjectReference; 2 key str; 3 optional bool }
EnvVarSource { 1 fieldRef ObjectFieldSelector; 2 resourceFieldRef ResourceFieldSelector;
    3 configMapKeyRef ConfigMapKeySelector; 4 secretKeyRef SecretKeySelector }
EnvVar { 1 name str; 2 value str?; 3 valueFrom EnvVarSource }
ResourceClaim { 1 name str; 2 request str? }
ResourceRequirements { 1 limits {qty}; 2 requests {qty}; 3 claims [ResourceClaim] }
ContainerResizePolicy { 1 resourceName str; 2 restartPolicy str }
VolumeMount { 1 name str; 2 readOnly bool?; 7 recursiveReadOnly str; 3 mountPath str;
    4 subPath str?; 5 mountPropagation str; 6 subPathExpr str? }
VolumeDevice { 1 name str; 2 devicePath str }
ExecAction { 1 command [str] }
HTTPHeader { 1 name str; 2 value str }
HTTPGetAction { 1 path str?; 2 port ios; 3 host str?; 4 scheme str?; 5 httpHeaders [HTTPHeader] }
TCPSocketAction { 1 port ios; 2 host str? }
GRPCAction { 1 port i32; 2 service str }
ProbeHandler { 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction;
    4 grpc GRPCAction }
Probe { 1 _ ^ProbeHandler; 2 initialDelaySeconds i32?; 3 timeoutSeconds i32?; 4 periodSeconds i32?;
    5 successThreshold i32?; 6 failureThreshold i32?; 7 terminationGracePeriodSeconds i64 }
SleepAction { 1 seconds i64 }
LifecycleHandler { 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction;
    4 sleep SleepAction }
Lifecycle { 1 postStart LifecycleHandler; 2 preStop LifecycleHandler; 3 stopSignal str }
Capabilities { 1 add [str]; 2 drop [str] }
SELinuxOptions { 1 user str?; 2 role str?; 3 type str?; 4 level str? }
WindowsSecurityContextOptions { 1 gmsaCredentialSpecName str; 2 gmsaCredentialSpec str;
    3 runAsUserName str; 4 hostProcess bool }
SeccompProfile { 1 type str; 2 localhostProfile str }
AppArmorProfile { 1 type str; 2 localhostProfile str }
SecurityContext { 1 capabilities Capabilities; 2 privileged bool; 3 seLinuxOptions SELinuxOptions;
    10 windowsOptions WindowsSecurityContextOptions; 4 runAsUser i64; 8 runAsGroup i64;
    5 runAsNonRoot bool; 6 readOnlyRootFilesystem bool; 7 allowPrivilegeEscalation bool;
    9 procMount str; 11 seccompProfile SeccompProfile; 12 appArmorProfile AppArmorProfile }
Container { 1 name str; 2 image str?; 3 command [str]; 4 args [str]; 5 workingDir str?;
    6 ports [ContainerPort]; 19 envFrom [EnvFromSource]; 7 env [EnvVar];
    8 resources ResourceRequirements; 23 resizePolicy [ContainerResizePolicy];
    24 restartPolicy str; 9 volumeMounts [VolumeMount]; 21 volumeDevices [VolumeDevice];
    10 livenessProbe Probe; 11 readinessProbe Probe; 22 startupProbe Probe; 12 lifecycle Lifecycle;
    13 terminationMessagePath str?; 20 terminationMessagePolicy str?; 14 imagePullPolicy str?;
    15 securityContext SecurityContext; 16 stdin bool?; 17 stdinOnce bool?; 18 tty bool? }
EphemeralContainerCommon { 1 name str; 2 image str?; 3 command [str]; 4 args [str];
    5 workingDir str?; 6 ports [ContainerPort]; 19 envFrom [EnvFromSource]; 7 env [EnvVar];
    8 resources ResourceRequirements; 23 resizePolicy [ContainerResizePolicy];
    24 restartPolicy str; 9 volumeMounts [VolumeMount]; 21 volumeDevices [VolumeDevice];
    10 livenessProbe Probe; 11 readinessProbe Probe; 22 startupProbe Probe; 12 lifecycle Lifecycle;
    13 terminationMessagePath str?; 20 terminationMessagePolicy str?; 14 imagePullPolicy str?;
    15 securityContext SecurityContext; 16 stdin bool?; 17 stdinOnce bool?; 18 tty bool? }
EphemeralContainer { 1 _ ^EphemeralContainerCommon; 2 targetContainerName str? }
Sysctl { 1 name str; 2 value str }
PodSecurityContext { 1 seLinuxOptions SELinuxOptions;
    8 windowsOptions WindowsSecurityContextOptions; 2 runAsUser i64; 6 runAsGroup i64;
    3 runAsNonRoot bool; 4 supplementalGroups [i64]; 12 supplementalGroupsPolicy str;
    5 fsGroup i64; 7 sysctls [Sysctl]; 9 fsGroupChangePolicy str; 10 seccompProfile SeccompProfile;
    11 appArmorProfile AppArmorProfile; 13 seLinuxChangePolicy str }
NodeSelectorRequirement { 1 key str; 2 operator str; 3 values [str] }
NodeSelectorTerm { 1 matchExpressions [NodeSelectorRequirement];
    2 matchFields [NodeSelectorRequirement] }
NodeSelector { 1 nodeSelectorTerms [NodeSelectorTerm] }
PreferredSchedulingTerm { 1 weight i32; 2 preference NodeSelectorTerm }
NodeAffinity { 1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector;
    2 preferredDuringSchedulingIgnoredDuringExecution [PreferredSchedulingTerm] }
PodAffinityTerm { 1 labelSelector LabelSelector; 2 namespaces [str]; 3 topologyKey str;
    4 namespaceSelector LabelSelector; 5 matchLabelKeys [str]; 6 mismatchLabelKeys [str] }
WeightedPodAffinityTerm { 1 weight i32; 2 podAffinityTerm PodAffinityTerm }
PodAffinity { 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm];
    2 preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm] }
PodAntiAffinity { 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm];
    2 preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm] }
Affinity { 1 nodeAffinity NodeAffinity; 2 podAffinity PodAffinity;
    3 podAntiAffinity PodAntiAffinity }
Toleration { 1 key str?; 2 operator str?; 3 value str?; 4 effect str?; 5 tolerationSeconds i64 }
HostAlias { 1 ip str; 2 hostnames [str] }
PodDNSConfigOption { 1 name str?; 2 value str }
PodDNSConfig { 1 nameservers [str]; 2 searches [str]; 3 options [PodDNSConfigOption] }
PodReadinessGate { 1 conditionType str }
TopologySpreadConstraint { 1 maxSkew i32; 2 topologyKey str; 3 whenUnsatisfiable str;
    4 labelSelector LabelSelector; 5 minDomains i32; 6 nodeAffinityPolicy str;
    7 nodeTaintsPolicy str; 8 matchLabelKeys [str] }
PodOS { 1 name str }
PodSchedulingGate { 1 name str }
PodResourceClaim { 1 name str; 3 resourceClaimName str; 4 resourceClaimTemplateName str }
PodSpec { 1 volumes [Volume]; 20 initContainers [Container]; 2 containers [Container];
    34 ephemeralContainers [EphemeralContainer]; 3 restartPolicy str?;
    4 terminationGracePeriodSeconds i64; 5 activeDeadlineSeconds i64; 6 dnsPolicy str?;
    7 nodeSelector {str}; 8 serviceAccountName str?; 9 serviceAccount str?;
    21 automountServiceAccountToken bool; 10 nodeName str?; 11 hostNetwork bool?; 12 hostPID bool?;
    13 hostIPC bool?; 27 shareProcessNamespace bool; 14 securityContext PodSecurityContext;
    15 imagePullSecrets [LocalObjectReference]; 16 hostname str?; 17 subdomain str?;
    18 affinity Affinity; 19 schedulerName str?; 22 tolerations [Toleration];
    23 hostAliases [HostAlias]; 24 priorityClassName str?; 25 priority i32;
    26 dnsConfig PodDNSConfig; 28 readinessGates [PodReadinessGate]; 29 runtimeClassName str;
    30 enableServiceLinks bool; 31 preemptionPolicy str; 32 overhead {qty};
    33 topologySpreadConstraints [TopologySpreadConstraint]; 35 setHostnameAsFQDN bool;
    36 os PodOS; 37 hostUsers bool; 38 schedulingGates [PodSchedulingGate];
    39 resourceClaims [PodResourceClaim]; 40 resources ResourceRequirements }
PodCondition { 1 type str; 7 observedGeneration i64?; 2 status str; 3 lastProbeTime time;
    4 lastTransitionTime time; 5 reason str?; 6 message str? }
HostIP { 1 ip str }
PodIP { 1 ip str }
ContainerStateWaiting { 1 reason str?; 2 message str? }
ContainerStateRunning { 1 startedAt time }
ContainerStateTerminated { 1 exitCode i32; 2 signal i32?; 3 reason str?; 4 message str?;
    5 startedAt time; 6 finishedAt time; 7 containerID str? }
ContainerState { 1 waiting ContainerStateWaiting; 2 running ContainerStateRunning;
    3 terminated ContainerStateTerminated }
VolumeMountStatus { 1 name str; 2 mountPath str; 3 readOnly bool?; 4 recursiveReadOnly str }
LinuxContainerUser { 1 uid i64; 2 gid i64; 3 supplementalGroups [i64] }
ContainerUser { 1 linux LinuxContainerUser }
ResourceHealth { 1 resourceID str; 2 health str? }
ResourceStatus { 1 name str; 2 resources [ResourceHealth] }
ContainerStatus { 1 name str; 2 state ContainerState; 3 lastState ContainerState; 4 ready bool;
    5 restartCount i32; 6 image str; 7 imageID str; 8 containerID str?; 9 started bool;
    10 allocatedResources {qty}; 11 resources ResourceRequirements;
    12 volumeMounts [VolumeMountStatus]; 13 user ContainerUser;
    14 allocatedResourcesStatus [ResourceStatus]; 15 stopSignal str }
PodResourceClaimStatus { 1 name str; 2 resourceClaimName str }
PodStatus { 17 observedGeneration i64?; 1 phase str?; 2 conditions [PodCondition]; 3 message str?;
    4 reason str?; 11 nominatedNodeName str?; 5 hostIP str?; 16 hostIPs [HostIP]; 6 podIP str?;
    12 podIPs [PodIP]; 7 startTime time; 10 initContainerStatuses [ContainerStatus];
    8 containerStatuses [ContainerStatus]; 9 qosClass str?;
    13 ephemeralContainerStatuses [ContainerStatus]; 14 resize str?;
    15 resourceClaimStatuses [PodResourceClaimStatus] }
Pod { 1 metadata ObjectMeta; 2 spec PodSpec; 3 status PodStatus }
Binding { 1 metadata ObjectMeta; 2 target ObjectReference }
EventSource { 1 component str?; 2 host str? }
EventSeries { 1 count i32?; 2 lastObservedTime mtime }
Event { 1 metadata ObjectMeta; 2 involvedObject ObjectReference; 3 reason str?; 4 message str?;
    5 source EventSource; 6 firstTimestamp time; 7 lastTimestamp time; 8 count i32?; 9 type str?;
    10 eventTime mtime; 11 series EventSeries; 12 action str?; 13 related ObjectReference;
    14 reportingComponent str; 15 reportingInstance str }
PodTemplateSpec { 1 metadata ObjectMeta; 2 spec PodSpec }
RollingUpdateDeployment { 1 maxUnavailable ios; 2 maxSurge ios }
DeploymentStrategy { 1 type str?; 2 rollingUpdate RollingUpdateDeployment }
DeploymentSpec { 1 replicas i32; 2 selector LabelSelector; 3 template PodTemplateSpec;
    4 strategy DeploymentStrategy; 5 minReadySeconds i32?; 6 revisionHistoryLimit i32;
    7 paused bool?; 9 progressDeadlineSeconds i32 }
DeploymentCondition { 1 type str; 2 status str; 6 lastUpdateTime time; 7 lastTransitionTime time;
    4 reason str?; 5 message str? }
DeploymentStatus { 1 observedGeneration i64?; 2 replicas i32?; 3 updatedReplicas i32?;
    7 readyReplicas i32?; 4 availableReplicas i32?; 5 unavailableReplicas i32?;
    9 terminatingReplicas i32; 6 conditions [DeploymentCondition]; 8 collisionCount i32 }
Deployment { 1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus }
ReplicaSetSpec { 1 replicas i32; 4 minReadySeconds i32?; 2 selector LabelSelector;
    3 template PodTemplateSpec }
ReplicaSetCondition { 1 type str; 2 status str; 3 lastTransitionTime time; 4 reason str?;
    5 message str? }
ReplicaSetStatus { 1 replicas i32; 2 fullyLabeledReplicas i32?; 4 readyReplicas i32?;
    5 availableReplicas i32?; 7 terminatingReplicas i32; 3 observedGeneration i64?;
    6 conditions [ReplicaSetCondition] }
ReplicaSet { 1 metadata ObjectMeta; 2 spec ReplicaSetSpec; 3 status ReplicaSetStatus }
discovery.EndpointConditions { 1 ready bool; 2 serving bool; 3 terminating bool }
discovery.ForZone { 1 name str }
discovery.ForNode { 1 name str }
discovery.EndpointHints { 1 forZones [discovery.ForZone]; 2 forNodes [discovery.ForNode] }
discovery.Endpoint { 1 addresses [str]; 2 conditions discovery.EndpointConditions; 3 hostname str;
    4 targetRef ObjectReference; 5 deprecatedTopology {str}; 6 nodeName str; 7 zone str;
    8 hints discovery.EndpointHints }
discovery.EndpointPort { 1 name str; 2 protocol str; 3 port i32; 4 appProtocol str }
discovery.EndpointSlice { 1 metadata ObjectMeta; 4 addressType str;
    2 endpoints [discovery.Endpoint]; 3 ports [discovery.EndpointPort] }
LeaseSpec { 1 holderIdentity str; 2 leaseDurationSeconds i32; 3 acquireTime mtime;
    4 renewTime mtime; 5 leaseTransitions i32; 6 strategy str; 7 preferredHolder str }
Lease { 1 metadata ObjectMeta; 2 spec LeaseSpec }
events.EventSeries { 1 count i32; 2 lastObservedTime mtime }
events.Event { 1 metadata ObjectMeta; 2 eventTime mtime; 3 series events.EventSeries;
    4 reportingController str?; 5 reportingInstance str?; 6 action str?; 7 reason str?;
    8 regarding ObjectReference; 9 related ObjectReference; 10 note str?; 11 type str?;
    12 deprecatedSource EventSource; 13 deprecatedFirstTimestamp time;
    14 deprecatedLastTimestamp time; 15 deprecatedCount i32? }
ScaleSpec { 1 replicas i32? }
ScaleStatus { 1 replicas i32; 2 selector str? }
Scale { 1 metadata ObjectMeta; 2 spec ScaleSpec; 3 status ScaleStatus }
Preconditions { 1 uid str; 2 resourceVersion str }
DeleteOptions { 1 gracePeriodSeconds i64; 2 preconditions Preconditions; 3 orphanDependents bool;
    4 propagationPolicy str; 5 dryRun [str];
    6 ignoreStoreReadErrorWithClusterBreakingPotential bool }
Eviction { 1 metadata ObjectMeta; 2 deleteOptions DeleteOptions }
";

/// A field's type, with message names resolved to indexes into [`Schema::messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ty {
    Str,
    Bool,
    I32,
    I64,
    Bytes,
    Quantity,
    Time,
    MicroTime,
    IntOrString,
    RawJson,
    Message(usize),
    Inline(usize),
    List(Box<Ty>),
    Map(Box<Ty>),
}

#[derive(Debug)]
pub(super) struct Field {
    pub tag: u32,
    pub name: &'static str,
    pub ty: Ty,
    /// Drop the field from the JSON when its value is zero (`""`, `0`, `false`, no bytes).
    pub omit_zero: bool,
}

#[derive(Debug)]
pub(super) struct Message {
    pub name: &'static str,
    /// Sorted by tag.
    pub fields: Vec<Field>,
}

impl Message {
    pub fn field(&self, tag: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| &self.fields[i])
    }
}

#[derive(Debug)]
pub(super) struct Schema {
    pub messages: Vec<Message>,
    by_name: HashMap<&'static str, usize>,
}

impl Schema {
    pub fn message(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

/// The parsed table; parsed once. An error here is a bug in [`TABLE`] (a test parses it).
pub(super) fn schema() -> Result<&'static Schema, &'static str> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| parse(TABLE))
        .as_ref()
        .map_err(String::as_str)
}

/// A field's type as written, before message names are resolved.
enum RawTy {
    Named(&'static str),
    Inline(&'static str),
    List(Box<RawTy>),
    Map(Box<RawTy>),
}

/// `(tag, JSON name, type, omit when zero)` as written.
type RawField = (u32, &'static str, RawTy, bool);

fn tokens(text: &'static str) -> impl Iterator<Item = &'static str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = rest.trim_start();
        let first = rest.chars().next()?;
        let len = if "{}[];^?".contains(first) {
            1
        } else {
            rest.find(|c: char| c.is_whitespace() || "{}[];^?".contains(c))
                .unwrap_or(rest.len())
        };
        let (token, tail) = rest.split_at(len);
        rest = tail;
        Some(token)
    })
}

fn parse(text: &'static str) -> Result<Schema, String> {
    let mut toks = tokens(text).peekable();
    let mut raw: Vec<(&'static str, Vec<RawField>)> = Vec::new();
    while let Some(name) = toks.next() {
        expect(&mut toks, "{", name)?;
        let mut fields = Vec::new();
        loop {
            let tag = toks
                .next()
                .ok_or_else(|| format!("{name}: unexpected end"))?;
            let tag: u32 = tag
                .parse()
                .map_err(|_| format!("{name}: bad tag {tag:?}"))?;
            let json = toks
                .next()
                .ok_or_else(|| format!("{name}: unexpected end"))?;
            let ty = parse_ty(&mut toks, name)?;
            let omit_zero = toks.next_if_eq(&"?").is_some();
            fields.push((tag, json, ty, omit_zero));
            match toks.next() {
                Some(";") => continue,
                Some("}") => break,
                other => return Err(format!("{name}: expected ; or }}, found {other:?}")),
            }
        }
        raw.push((name, fields));
    }
    let by_name: HashMap<&'static str, usize> =
        raw.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
    if by_name.len() != raw.len() {
        return Err("a message is defined twice".to_string());
    }
    let mut messages = Vec::new();
    for (name, fields) in raw {
        let mut resolved = Vec::new();
        for (tag, json, ty, omit_zero) in fields {
            let ty = resolve(&ty, &by_name).map_err(|e| format!("{name}.{json}: {e}"))?;
            let scalar = matches!(ty, Ty::Str | Ty::Bool | Ty::I32 | Ty::I64 | Ty::Bytes);
            if omit_zero && !scalar {
                return Err(format!("{name}.{json}: ? on a non-scalar"));
            }
            if matches!(ty, Ty::Inline(_)) != (json == "_") {
                return Err(format!(
                    "{name}.{json}: inline fields, and only they, are named _"
                ));
            }
            resolved.push(Field {
                tag,
                name: json,
                ty,
                omit_zero,
            });
        }
        resolved.sort_by_key(|f| f.tag);
        if resolved.windows(2).any(|w| w[0].tag == w[1].tag) || resolved.iter().any(|f| f.tag == 0)
        {
            return Err(format!("{name}: duplicate or zero tag"));
        }
        messages.push(Message {
            name,
            fields: resolved,
        });
    }
    Ok(Schema { messages, by_name })
}

fn expect(
    toks: &mut impl Iterator<Item = &'static str>,
    want: &str,
    name: &str,
) -> Result<(), String> {
    match toks.next() {
        Some(t) if t == want => Ok(()),
        other => Err(format!("{name}: expected {want}, found {other:?}")),
    }
}

fn parse_ty(
    toks: &mut std::iter::Peekable<impl Iterator<Item = &'static str>>,
    name: &str,
) -> Result<RawTy, String> {
    match toks.next() {
        Some("[") => {
            let inner = parse_ty(toks, name)?;
            expect(toks, "]", name)?;
            Ok(RawTy::List(Box::new(inner)))
        }
        Some("{") => {
            let inner = parse_ty(toks, name)?;
            expect(toks, "}", name)?;
            Ok(RawTy::Map(Box::new(inner)))
        }
        Some("^") => match toks.next() {
            Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '.') => Ok(RawTy::Inline(t)),
            other => Err(format!(
                "{name}: expected a message after ^, found {other:?}"
            )),
        },
        Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '.') => Ok(RawTy::Named(t)),
        other => Err(format!("{name}: expected a type, found {other:?}")),
    }
}

fn resolve(ty: &RawTy, by_name: &HashMap<&'static str, usize>) -> Result<Ty, String> {
    let message = |n: &str| {
        by_name
            .get(n)
            .copied()
            .ok_or_else(|| format!("unknown type {n}"))
    };
    Ok(match ty {
        RawTy::Named(n) => match *n {
            "str" => Ty::Str,
            "bool" => Ty::Bool,
            "i32" => Ty::I32,
            "i64" => Ty::I64,
            "bytes" => Ty::Bytes,
            "qty" => Ty::Quantity,
            "time" => Ty::Time,
            "mtime" => Ty::MicroTime,
            "ios" => Ty::IntOrString,
            "raw" => Ty::RawJson,
            n => Ty::Message(message(n)?),
        },
        RawTy::Inline(n) => Ty::Inline(message(n)?),
        RawTy::List(inner) | RawTy::Map(inner) => {
            let inner = resolve(inner, by_name)?;
            if matches!(inner, Ty::Inline(_) | Ty::List(_) | Ty::Map(_)) {
                return Err("lists and maps hold scalars or messages".to_string());
            }
            match ty {
                RawTy::List(_) => Ty::List(Box::new(inner)),
                _ => Ty::Map(Box::new(inner)),
            }
        }
    })
}
