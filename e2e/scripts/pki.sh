# Certificates and kubeconfigs for the local cluster, made with openssl (sourced by
# control-plane.sh and node.sh). Created once per state directory; existing files are kept.

# cert <name> <CN> <O or ""> <server|client> [SAN list]: a key and a certificate signed by the CA
# ($SIGNER, default ca).
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
  local signer=${SIGNER:-ca}
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$signer.crt" -CAkey "$PKI/$signer.key" -CAcreateserial \
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

# ca <name> <CN>: a self-signed CA.
ca() {
  [ -s "$PKI/$1.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$1.key" 2> /dev/null
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 365 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$1.crt" 2> /dev/null
}

pki_init() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  ca ca ambit-e2e-ca
  # The aggregation layer's own CA, as kubeadm makes it (front-proxy-ca / front-proxy-client).
  ca front-proxy-ca ambit-e2e-front-proxy-ca
  SIGNER=front-proxy-ca cert front-proxy-client front-proxy-client "" client
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
