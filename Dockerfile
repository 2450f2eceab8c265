# pagoda's image, for those who build with Docker: the same files that
# packaging/image puts in the image it builds with umoci (and
# packaging/image_test.sh checks that they are the same files).
#
#   docker build -t registry.example.com/pagoda:0.1.0 .
#
# LIBS names every library the binary loads. The runtime stage fails the
# build when the binary loads one that is not named there, or names one it
# does not load.

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config git ca-certificates tzdata \
      libgit2-dev libssh2-1-dev libyaml-cpp-dev libcurl4-openssl-dev libssl-dev rapidjson-dev \
      libspdlog-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libcpp-httplib-dev \
      prometheus-cpp-dev libhowardhinnant-date-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build --target pagoda \
 && objcopy --strip-unneeded /build/cli/pagoda /pagoda

FROM build AS runtime
ARG LIBS="\
  libbrotlicommon.so.1 libbrotlidec.so.1 libbrotlienc.so.1 libc.so.6 libcom_err.so.2 \
  libcpp-httplib.so.0.11 libcrypto.so.3 libcurl.so.4 libdate-tz.so.3 libffi.so.8 libfmt.so.9 \
  libgcc_s.so.1 \
  libgit2.so.1.5 libgmp.so.10 libgnutls.so.30 libgssapi_krb5.so.2 libhogweed.so.6 \
  libhttp_parser.so.2.9 libidn2.so.0 libk5crypto.so.3 libkeyutils.so.1 libkrb5.so.3 \
  libkrb5support.so.0 liblber-2.5.so.0 libldap-2.5.so.0 libm.so.6 libmbedcrypto.so.7 \
  libmbedtls.so.14 libmbedx509.so.1 libnettle.so.8 libnghttp2.so.14 libp11-kit.so.0 \
  libpcre2-8.so.0 libprometheus-cpp-core.so.1.0 libpsl.so.5 libresolv.so.2 librtmp.so.1 \
  libsasl2.so.2 libspdlog.so.1.10 libssh2.so.1 libssl.so.3 libstdc++.so.6 libtasn1.so.6 \
  libunistring.so.2 libyaml-cpp.so.0.7 libz.so.1 libzstd.so.1"
# Each library under its soname, with its package's copyright file and
# dpkg status paragraph (for scanners); the state directory of the user.
RUN set -eu; \
    arch=$(gcc -dumpmachine); \
    loaded=$(ldd /pagoda | awk '$2 == "=>" {print $1}' | sort | tr '\n' ' '); \
    named=$(printf '%s\n' $LIBS | sort | tr '\n' ' '); \
    [ "$loaded" = "$named" ] || { echo "LIBS is not what pagoda loads: $loaded"; exit 1; }; \
    mkdir -p /out/usr/lib/$arch /out/lib64 /out/var/lib/dpkg/status.d /state; \
    cp -L /lib64/ld-linux-x86-64.so.2 /out/lib64/; \
    for lib in $LIBS; do cp -L /usr/lib/$arch/$lib /out/usr/lib/$arch/; done; \
    pkgs="ca-certificates tzdata"; \
    for file in /lib64/ld-linux-x86-64.so.2 $(printf "/usr/lib/$arch/%s " $LIBS); do \
      pkgs="$pkgs $(dpkg-query -S "$(readlink -f "$file")" "${file#/usr}" "$file" 2>/dev/null | head -1 | cut -d: -f1)"; \
    done; \
    for pkg in $(printf '%s\n' $pkgs | sort -u); do \
      mkdir -p /out/usr/share/doc/$pkg; \
      cp /usr/share/doc/$pkg/copyright /out/usr/share/doc/$pkg/; \
      dpkg-query -s $pkg | awk '/^(Conffiles|Description):/ {s = 1; next} /^ / && s {next} {s = 0; print}' \
        >/out/var/lib/dpkg/status.d/$pkg; \
    done; \
    chmod 0700 /state

FROM scratch
COPY packaging/rootfs/ /
COPY --from=runtime /out/ /
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/share/zoneinfo/ /usr/share/zoneinfo/
COPY --from=build /src/packaging/debian/copyright /usr/share/doc/pagoda/copyright
COPY --from=build /pagoda /usr/bin/pagoda
COPY --from=runtime --chown=65532:65532 /state/ /var/lib/pagoda/
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt TZ=UTC HOME=/var/lib/pagoda
USER 65532:65532
WORKDIR /var/lib/pagoda
VOLUME /var/lib/pagoda
EXPOSE 9420/tcp
LABEL org.opencontainers.image.title=pagoda \
      org.opencontainers.image.description="pagoda, the GitOps release daemon for Kubernetes" \
      org.opencontainers.image.source=https://pagoda.dev \
      org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/bin/pagoda"]
CMD ["daemon", "--config", "/etc/pagoda/config.yaml"]
