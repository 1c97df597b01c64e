// Bodies the real kubectl v1.32 sent, captured with a recording proxy in front of our
// apiserver; the JSON is what `kubectl ... --dry-run=client -o json` prints for the same
// command, less `"creationTimestamp": null`, or (pods) the JSON checked field by field against
// the source pod as the apiserver returned it.

/// `kubectl create namespace x`
pub const NAMESPACE: &[u8] =
    b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x19\x0a\x11\x0a\x01x\x12\x00\x1a\x00\"\x00*\
    \x002\x008\x00B\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\"\x00";
pub const NAMESPACE_JSON: &str = r#"
{
 "kind": "Namespace",
 "apiVersion": "v1",
 "metadata": {
  "name": "x"
 },
 "spec": {},
 "status": {}
}
"#;

/// `kubectl create deployment x --image=busybox --replicas=2 --port=80`
pub const DEPLOYMENT: &[u8] =
    b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment\x12\xb4\x01\x0a\x1b\x0a\x01x\x12\x00\x1a\
    \x00\"\x00*\x002\x008\x00B\x00Z\x08\x0a\x03app\x12\x01x\x12\x86\x01\x08\x02\x12\x0a\x0a\
    \x08\x0a\x03app\x12\x01x\x1an\x0a\x1a\x0a\x00\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00Z\
    \x08\x0a\x03app\x12\x01x\x12P\x122\x0a\x07busybox\x12\x07busybox*\x002\x0a\x0a\x00\x10\x00\
    \x18P\"\x00*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\
    \x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\"\x02\
    \x0a\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00\x20\x00(\x008\x00\x1a\x00\"\x00";
pub const DEPLOYMENT_JSON: &str = r#"
{
 "kind": "Deployment",
 "apiVersion": "apps/v1",
 "metadata": {
  "name": "x",
  "labels": {
   "app": "x"
  }
 },
 "spec": {
  "replicas": 2,
  "selector": {
   "matchLabels": {
    "app": "x"
   }
  },
  "template": {
   "metadata": {
    "labels": {
     "app": "x"
    }
   },
   "spec": {
    "containers": [
     {
      "name": "busybox",
      "image": "busybox",
      "ports": [
       {
        "containerPort": 80
       }
      ],
      "resources": {}
     }
    ]
   }
  },
  "strategy": {}
 },
 "status": {}
}
"#;

/// `kubectl create secret generic s --from-literal=a=b`
pub const SECRET: &[u8] =
    b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\x1d\x0a\x11\x0a\x01s\x12\x00\x1a\x00\"\x00*\
    \x002\x008\x00B\x00\x12\x06\x0a\x01a\x12\x01b\x1a\x00\x1a\x00\"\x00";
pub const SECRET_JSON: &str = r#"
{
 "kind": "Secret",
 "apiVersion": "v1",
 "metadata": {
  "name": "s"
 },
 "data": {
  "a": "Yg=="
 }
}
"#;

/// `kubectl create configmap c2 --from-literal=a=b --from-literal=zz=yy`
pub const CONFIGMAP: &[u8] =
    b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12&\x0a\x12\x0a\x02c2\x12\x00\x1a\x00\"\x00*\
    \x002\x008\x00B\x00\x12\x06\x0a\x01a\x12\x01b\x12\x08\x0a\x02zz\x12\x02yy\x1a\x00\"\x00";
pub const CONFIGMAP_JSON: &str = r#"
{
 "kind": "ConfigMap",
 "apiVersion": "v1",
 "metadata": {
  "name": "c2"
 },
 "data": {
  "a": "b",
  "zz": "yy"
 }
}
"#;

/// `kubectl create service clusterip s --tcp=80:8080`
pub const SERVICE: &[u8] =
    b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12c\x0a\x1b\x0a\x01s\x12\x00\x1a\x00\"\x00*\x002\
    \x008\x00B\x00Z\x08\x0a\x03app\x12\x01s\x12@\x0a\x1b\x0a\x0780-8080\x12\x03TCP\x18P\"\x07\
    \x08\x00\x10\x90?\x1a\x00(\x00\x12\x08\x0a\x03app\x12\x01s\x1a\x00\"\x09ClusterIP:\x00B\
    \x00R\x00Z\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\"\x00";
pub const SERVICE_JSON: &str = r#"
{
 "kind": "Service",
 "apiVersion": "v1",
 "metadata": {
  "name": "s",
  "labels": {
   "app": "s"
  }
 },
 "spec": {
  "ports": [
   {
    "name": "80-8080",
    "protocol": "TCP",
    "port": 80,
    "targetPort": 8080
   }
  ],
  "selector": {
   "app": "s"
  },
  "type": "ClusterIP"
 },
 "status": {
  "loadBalancer": {}
 }
}
"#;

/// `kubectl create service nodeport np --tcp=80:8080 --node-port=30080`
pub const SERVICE_NODEPORT: &[u8] =
    b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12g\x0a\x1d\x0a\x02np\x12\x00\x1a\x00\"\x00*\x00\
    2\x008\x00B\x00Z\x09\x0a\x03app\x12\x02np\x12B\x0a\x1d\x0a\x0780-8080\x12\x03TCP\x18P\"\
    \x07\x08\x00\x10\x90?\x1a\x00(\x80\xeb\x01\x12\x09\x0a\x03app\x12\x02np\x1a\x00\"\x08NodeP\
    ort:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\"\x00";
pub const SERVICE_NODEPORT_JSON: &str = r#"
{
 "kind": "Service",
 "apiVersion": "v1",
 "metadata": {
  "name": "np",
  "labels": {
   "app": "np"
  }
 },
 "spec": {
  "ports": [
   {
    "name": "80-8080",
    "protocol": "TCP",
    "port": 80,
    "targetPort": 8080,
    "nodePort": 30080
   }
  ],
  "selector": {
   "app": "np"
  },
  "type": "NodePort"
 },
 "status": {
  "loadBalancer": {}
 }
}
"#;

/// `kubectl create serviceaccount sa`
pub const SERVICE_ACCOUNT: &[u8] =
    b"k8s\x00\x0a\x14\x0a\x02v1\x12\x0eServiceAccount\x12\x14\x0a\x12\x0a\x02sa\x12\x00\x1a\x00\
    \"\x00*\x002\x008\x00B\x00\x1a\x00\"\x00";
pub const SERVICE_ACCOUNT_JSON: &str =
    r#"{"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":"sa"}}"#;

/// `kubectl drain n1 --force (the pod delete, eviction unavailable)`
pub const DELETE_OPTIONS: &[u8] =
    b"k8s\x00\x0a\x13\x0a\x02v1\x12\x0dDeleteOptions\x12\x00\x1a\x00\"\x00";
pub const DELETE_OPTIONS_JSON: &str = r#"{"apiVersion":"v1","kind":"DeleteOptions"}"#;

/// `kubectl debug node/n1 --image=busybox --profile=sysadmin -- true`
pub const DEBUG_NODE_POD: &[u8] =
    b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod\x12\xd9\x01\x0a&\x0a\x16node-debugger-n1-7lk8g\x12\
    \x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x99\x01\x0a\x12\x0a\x09host-root\x12\x05\x0a\
    \x03\x0a\x01/\x12O\x0a\x08debugger\x12\x07busybox\x1a\x04true*\x00B\x00J\x18\x0a\x09host-r\
    oot\x10\x00\x1a\x05/host\"\x002\x00j\x00r\x00z\x02\x10\x01\x80\x01\x00\x88\x01\x00\x90\x01\
    \x00\xa2\x01\x04File\x1a\x05Never2\x00B\x00J\x00R\x02n1X\x01`\x01h\x01\x82\x01\x00\x8a\x01\
    \x00\x9a\x01\x00\xb2\x01\x0e\x0a\x00\x12\x06Exists\x1a\x00\"\x00\xc2\x01\x00\x1a\x13\x0a\
    \x00\x1a\x00\"\x00*\x002\x00J\x00Z\x00r\x00\x88\x01\x00\x1a\x00\"\x00";
pub const DEBUG_NODE_POD_JSON: &str = r#"
{
 "apiVersion": "v1",
 "kind": "Pod",
 "metadata": {
  "name": "node-debugger-n1-7lk8g"
 },
 "spec": {
  "containers": [
   {
    "command": [
     "true"
    ],
    "image": "busybox",
    "name": "debugger",
    "resources": {},
    "securityContext": {
     "privileged": true
    },
    "terminationMessagePolicy": "File",
    "volumeMounts": [
     {
      "mountPath": "/host",
      "name": "host-root"
     }
    ]
   }
  ],
  "hostIPC": true,
  "hostNetwork": true,
  "hostPID": true,
  "nodeName": "n1",
  "restartPolicy": "Never",
  "tolerations": [
   {
    "operator": "Exists"
   }
  ],
  "volumes": [
   {
    "hostPath": {
     "path": "/"
    },
    "name": "host-root"
   }
  ]
 },
 "status": {}
}
"#;

/// `kubectl debug rich --copy-to=rich3 --set-image=main=nginx --share-processes=false`
pub const DEBUG_COPY_POD: &[u8] =
    b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod\x12\x98\x0a\x0aD\x0a\x05rich3\x12\x00\x1a\x07default\
    \"\x00*\x002\x008\x00B\x00Z\x0b\x0a\x03app\x12\x04richZ\x0a\x0a\x04tier\x12\x02beb\x0d\x0a\
    \x04note\x12\x05hello\x12\xba\x09\x0a\x1d\x0a\x07scratch\x12\x12\x12\x10\x0a\x06Memory\x12\
    \x06\x0a\x0464Mi\x0a\x1f\x0a\x04host\x12\x17\x0a\x15\x0a\x08/var/log\x12\x09Directory\x0a\
    \x20\x0a\x03sec\x12\x192\x17\x0a\x01s\x12\x0d\x0a\x01a\x12\x05a.txt\x18\x80\x02\x18\xa4\
    \x03\x20\x01\x0a\x11\x0a\x02cm\x12\x0b\x9a\x01\x08\x0a\x03\x0a\x01c\x18\xa4\x03\x0aC\x0a\
    \x04proj\x12;\xd2\x018\x0a\x0e\"\x0c\x0a\x00\x10\x90\x1c\x1a\x05token\x0a#\x12!\x0a\x1f\
    \x0a\x06labels\x12\x15\x0a\x02v1\x12\x0fmetadata.labels\x10\xa4\x03\x12\xb4\x04\x0a\x04mai\
    n\x12\x05nginx\x1a\x02sh\x1a\x02-c\"\x0asleep\x203600*\x04/tmp2\x12\x0a\x04http\x10\x00\
    \x18\x90?\"\x03TCP*\x002\x0e\x0a\x00\x10\xe9)\x185\"\x03UDP*\x00:\x06\x0a\x01A\x12\x01B:\
    \x09\x0a\x05EMPTY\x12\x00:\x20\x0a\x06POD_IP\x12\x00\x1a\x14\x0a\x12\x0a\x02v1\x12\x0cstat\
    us.podIP:'\x0a\x03MEM\x12\x00\x1a\x1e\x12\x1c\x0a\x04main\x12\x0dlimits.memory\x1a\x05\x0a\
    \x031Mi:\x15\x0a\x03CMV\x12\x00\x1a\x0c\x1a\x0a\x0a\x03\x0a\x01c\x12\x01a\x18\x00:\x12\x0a\
    \x02SV\x12\x00\x1a\x0a\"\x08\x0a\x03\x0a\x01s\x12\x01aBC\x0a\x0d\x0a\x03cpu\x12\x06\x0a\
    \x04500m\x0a\x11\x0a\x06memory\x12\x07\x0a\x05128Mi\x12\x0d\x0a\x03cpu\x12\x06\x0a\x04250m\
    \x12\x10\x0a\x06memory\x12\x06\x0a\x0464MiJ\x19\x0a\x07scratch\x10\x00\x1a\x08/scratch\"\
    \x002\x00J\x12\x0a\x03sec\x10\x01\x1a\x04/sec\"\x01x2\x00R4\x0a(\x12&\x0a\x08/healthz\x12\
    \x0a\x08\x01\x10\x00\x1a\x04http\x1a\x00\"\x04HTTP*\x06\x0a\x01X\x12\x01y\x10\x03\x18\x01\
    \x20\x05(\x010\x03Z\x19\x0a\x0d\x1a\x0b\x0a\x07\x08\x00\x10\x90?\x1a\x00\x12\x00\x10\x00\
    \x18\x02\x20\x0a(\x010\x03b\x06\x12\x04\"\x02\x08\x05j\x14/dev/termination-logr\x0cIfNotPr\
    esentz\"\x0a\x17\x0a\x10NET_BIND_SERVICE\x12\x03ALL\x20\xe8\x07(\x010\x018\x00\x80\x01\x01\
    \x88\x01\x00\x90\x01\x01\x9a\x01\x0b\x0a\x02P_\x12\x05\x0a\x03\x0a\x01c\x9a\x01\x0b\x0a\
    \x00\x1a\x07\x0a\x03\x0a\x01s\x10\x01\xa2\x01\x04File\xb2\x01\x1c\x0a\x10\x0a\x0e\x0a\x03c\
    at\x0a\x07/tmp/ok\x10\x00\x18\x01\x20\x0a(\x010\x03\x1a\x06Always\x20\x1e(\xd8\x042\x0cClu\
    sterFirst:\x0b\x0a\x04disk\x12\x03ssdB\x02saJ\x02saR\x00X\x00`\x00h\x00r1\x20\x01\x20\x02(\
    \xd0\x0f:(\x0a#net.ipv4.ip_unprivileged_port_start\x12\x010z\x05\x0a\x03reg\x82\x01\x01h\
    \x8a\x01\x03sub\x92\x01\x15\x0a\x13\x0a\x11\x0a\x0f\x0a\x0d\x0a\x01k\x12\x02In\x1a\x01a\
    \x1a\x01b\x9a\x01\x11default-scheduler\xa2\x01G\x0a\x04init\x12\x07busybox\x1a\x04true*\
    \x00B\x00j\x14/dev/termination-logr\x06Always\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\
    \x04File\xa8\x01\x00\xb2\x016\x0a\x1cnode.kubernetes.io/not-ready\x12\x06Exists\x1a\x00\"\
    \x09NoExecute(\xac\x02\xb2\x01\x0e\x0a\x00\x12\x06Exists\x1a\x00\"\x00\xba\x01\x0e\x0a\x07\
    1.2.3.4\x12\x03a.b\xc2\x01\x00\xc8\x01\x00\xd2\x01\x15\x0a\x071.1.1.1\x1a\x0a\x0a\x05ndots\
    \x12\x012\xd8\x01\x00\xe2\x01\x05\x0a\x03x/y\xf0\x01\x01\xfa\x01\x14PreemptLowerPriority\
    \x8a\x023\x08\x01\x12\x04zone\x1a\x0dDoNotSchedule\"\x1a\x0a\x0b\x0a\x03app\x12\x04rich\
    \x12\x0b\x0a\x01t\x12\x06Exists\x1a\x13\x0a\x00\x1a\x00\"\x00*\x002\x00J\x00Z\x00r\x00\x88\
    \x01\x00\x1a\x00\"\x00";
pub const DEBUG_COPY_POD_JSON: &str = r#"
{
 "apiVersion": "v1",
 "kind": "Pod",
 "metadata": {
  "annotations": {
   "note": "hello"
  },
  "labels": {
   "app": "rich",
   "tier": "be"
  },
  "name": "rich3",
  "namespace": "default"
 },
 "spec": {
  "activeDeadlineSeconds": 600,
  "affinity": {
   "nodeAffinity": {
    "requiredDuringSchedulingIgnoredDuringExecution": {
     "nodeSelectorTerms": [
      {
       "matchExpressions": [
        {
         "key": "k",
         "operator": "In",
         "values": [
          "a",
          "b"
         ]
        }
       ]
      }
     ]
    }
   }
  },
  "automountServiceAccountToken": false,
  "containers": [
   {
    "args": [
     "sleep 3600"
    ],
    "command": [
     "sh",
     "-c"
    ],
    "env": [
     {
      "name": "A",
      "value": "B"
     },
     {
      "name": "EMPTY"
     },
     {
      "name": "POD_IP",
      "valueFrom": {
       "fieldRef": {
        "apiVersion": "v1",
        "fieldPath": "status.podIP"
       }
      }
     },
     {
      "name": "MEM",
      "valueFrom": {
       "resourceFieldRef": {
        "containerName": "main",
        "divisor": "1Mi",
        "resource": "limits.memory"
       }
      }
     },
     {
      "name": "CMV",
      "valueFrom": {
       "configMapKeyRef": {
        "key": "a",
        "name": "c",
        "optional": false
       }
      }
     },
     {
      "name": "SV",
      "valueFrom": {
       "secretKeyRef": {
        "key": "a",
        "name": "s"
       }
      }
     }
    ],
    "envFrom": [
     {
      "configMapRef": {
       "name": "c"
      },
      "prefix": "P_"
     },
     {
      "secretRef": {
       "name": "s",
       "optional": true
      }
     }
    ],
    "image": "nginx",
    "imagePullPolicy": "IfNotPresent",
    "lifecycle": {
     "preStop": {
      "sleep": {
       "seconds": 5
      }
     }
    },
    "livenessProbe": {
     "failureThreshold": 3,
     "httpGet": {
      "httpHeaders": [
       {
        "name": "X",
        "value": "y"
       }
      ],
      "path": "/healthz",
      "port": "http",
      "scheme": "HTTP"
     },
     "initialDelaySeconds": 3,
     "periodSeconds": 5,
     "successThreshold": 1,
     "timeoutSeconds": 1
    },
    "name": "main",
    "ports": [
     {
      "containerPort": 8080,
      "name": "http",
      "protocol": "TCP"
     },
     {
      "containerPort": 53,
      "hostPort": 5353,
      "protocol": "UDP"
     }
    ],
    "readinessProbe": {
     "failureThreshold": 3,
     "periodSeconds": 10,
     "successThreshold": 1,
     "tcpSocket": {
      "port": 8080
     },
     "timeoutSeconds": 2
    },
    "resources": {
     "limits": {
      "cpu": "500m",
      "memory": "128Mi"
     },
     "requests": {
      "cpu": "250m",
      "memory": "64Mi"
     }
    },
    "securityContext": {
     "allowPrivilegeEscalation": false,
     "capabilities": {
      "add": [
       "NET_BIND_SERVICE"
      ],
      "drop": [
       "ALL"
      ]
     },
     "readOnlyRootFilesystem": true,
     "runAsNonRoot": true,
     "runAsUser": 1000
    },
    "startupProbe": {
     "exec": {
      "command": [
       "cat",
       "/tmp/ok"
      ]
     },
     "failureThreshold": 3,
     "periodSeconds": 10,
     "successThreshold": 1,
     "timeoutSeconds": 1
    },
    "stdin": true,
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "tty": true,
    "volumeMounts": [
     {
      "mountPath": "/scratch",
      "name": "scratch"
     },
     {
      "mountPath": "/sec",
      "name": "sec",
      "readOnly": true,
      "subPath": "x"
     }
    ],
    "workingDir": "/tmp"
   }
  ],
  "dnsConfig": {
   "nameservers": [
    "1.1.1.1"
   ],
   "options": [
    {
     "name": "ndots",
     "value": "2"
    }
   ]
  },
  "dnsPolicy": "ClusterFirst",
  "enableServiceLinks": true,
  "hostAliases": [
   {
    "hostnames": [
     "a.b"
    ],
    "ip": "1.2.3.4"
   }
  ],
  "hostname": "h",
  "imagePullSecrets": [
   {
    "name": "reg"
   }
  ],
  "initContainers": [
   {
    "command": [
     "true"
    ],
    "image": "busybox",
    "imagePullPolicy": "Always",
    "name": "init",
    "resources": {},
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File"
   }
  ],
  "nodeSelector": {
   "disk": "ssd"
  },
  "preemptionPolicy": "PreemptLowerPriority",
  "priority": 0,
  "readinessGates": [
   {
    "conditionType": "x/y"
   }
  ],
  "restartPolicy": "Always",
  "schedulerName": "default-scheduler",
  "securityContext": {
   "fsGroup": 2000,
   "supplementalGroups": [
    1,
    2
   ],
   "sysctls": [
    {
     "name": "net.ipv4.ip_unprivileged_port_start",
     "value": "0"
    }
   ]
  },
  "serviceAccount": "sa",
  "serviceAccountName": "sa",
  "shareProcessNamespace": false,
  "subdomain": "sub",
  "terminationGracePeriodSeconds": 30,
  "tolerations": [
   {
    "effect": "NoExecute",
    "key": "node.kubernetes.io/not-ready",
    "operator": "Exists",
    "tolerationSeconds": 300
   },
   {
    "operator": "Exists"
   }
  ],
  "topologySpreadConstraints": [
   {
    "labelSelector": {
     "matchExpressions": [
      {
       "key": "t",
       "operator": "Exists"
      }
     ],
     "matchLabels": {
      "app": "rich"
     }
    },
    "maxSkew": 1,
    "topologyKey": "zone",
    "whenUnsatisfiable": "DoNotSchedule"
   }
  ],
  "volumes": [
   {
    "emptyDir": {
     "medium": "Memory",
     "sizeLimit": "64Mi"
    },
    "name": "scratch"
   },
   {
    "hostPath": {
     "path": "/var/log",
     "type": "Directory"
    },
    "name": "host"
   },
   {
    "name": "sec",
    "secret": {
     "defaultMode": 420,
     "items": [
      {
       "key": "a",
       "mode": 256,
       "path": "a.txt"
      }
     ],
     "optional": true,
     "secretName": "s"
    }
   },
   {
    "configMap": {
     "defaultMode": 420,
     "name": "c"
    },
    "name": "cm"
   },
   {
    "name": "proj",
    "projected": {
     "defaultMode": 420,
     "sources": [
      {
       "serviceAccountToken": {
        "expirationSeconds": 3600,
        "path": "token"
       }
      },
      {
       "downwardAPI": {
        "items": [
         {
          "fieldRef": {
           "apiVersion": "v1",
           "fieldPath": "metadata.labels"
          },
          "path": "labels"
         }
        ]
       }
      }
     ]
    }
   }
  ]
 },
 "status": {}
}
"#;

/// `kubectl create job j --image=busybox`
pub const JOB: &[u8] =
    b"k8s\x00\x0a\x0f\x0a\x08batch/v1\x12\x03Job\x12x\x0a\x11\x0a\x01j\x12\x00\x1a\x00\"\x00*\
    \x002\x008\x00B\x00\x12Y2W\x0a\x10\x0a\x00\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12C\
    \x12\x20\x0a\x01j\x12\x07busybox*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\
    \xa2\x01\x00\x1a\x05Never2\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\
    \x01\x00\xc2\x01\x00\x1a\x08\x20\x00(\x000\x00:\x00\x1a\x00\"\x00";
