# Certificates and kubeconfigs for the local cluster, made with openssl (sourced by
# control-plane.sh and node.sh). Created once per state directory; existing files are kept.

# cert <name> <CN> <O or ""> <server|client> [SAN list]: a key and a certificate signed by the CA.
cert() {
  local name=$1 cn=$2 org=$3 usage=$4 san=${5:-}
  [ -s "$PKI/$name.crt" ] && return 0
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ "$usage" = server ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2> /dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2> /dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -extfile "$ext" -out "$PKI/$name.crt" 2> /dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# kubeconfig <file> <cert name> <server URL>: a kubeconfig with the client cert embedded.
kubeconfig() {
  local file=$1 name=$2 server=$3
  cat > "$file" << EOF
apiVersion: v1
kind: Config
clusters:
- name: ambit-e2e
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$name.crt")
    client-key-data: $(base64 -w0 < "$PKI/$name.key")
contexts:
- name: ambit-e2e
  context:
    cluster: ambit-e2e
    user: $name
current-context: ambit-e2e
EOF
}

pki_init() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [ ! -s "$PKI/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2> /dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=ambit-e2e-ca" -days 365 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2> /dev/null
  fi
  # The ServiceAccount token signing key (RS256, as kubeadm makes it).
  if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2> /dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2> /dev/null
  fi
  local sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  sans+=",DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$ADDR"
  cert apiserver kube-apiserver "" server "$sans"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
  cert admin kubernetes-admin system:masters client
  cert controller-manager system:kube-controller-manager "" client
  cert scheduler system:kube-scheduler "" client
  cert kube-proxy system:kube-proxy "" client
}
