# make_example_repo SOURCE_DIR DIR SUFFIX: a Git repository in DIR of
# examples/repo as the shell tests release it: no holds or waits between
# batches, and apps, hosts and a load balancer port of their own, so that
# tests running at the same time are not each other's conflicts (public
# listeners are the cluster's, not a namespace's). Sourced, not run.
make_example_repo() {
  local source=$1 repo=$2 suffix=$3 app
  local git=(git -C "$repo" -c user.name=Test -c user.email=test@example.com)
  cp -r "$source/examples/repo" "$repo"
  rm -rf "$repo/policy"  # the example's freeze windows are not the tests' to wait for
  sed -i 's/pause: first/pause: none/; s/batchInterval: 30s/batchInterval: 0s/' "$repo/apps/shop-web/envs/prod.yaml"
  sed -i 's/batchInterval: 10s/batchInterval: 0s/' "$repo/apps/shop-web/envs/test.yaml"
  sed -i 's/pause: every/pause: none/' "$repo/apps/orders/envs/orders.yaml"
  sed -i "s/host: shop\./host: shop-$suffix./" "$repo"/apps/shop-web/envs/{prod,test}.yaml
  sed -i "s/port: 9443/port: $((20000 + suffix % 40000))/" "$repo/apps/orders/envs/orders.yaml"
  for app in shop-web orders; do
    mv "$repo/apps/$app" "$repo/apps/$app-$suffix"
    sed -i "s/name: $app\$/name: $app-$suffix/" "$repo/apps/$app-$suffix/app.yaml"
  done
  "${git[@]}" init -q -b main
  "${git[@]}" add -A
  "${git[@]}" commit -q -m "apps"
}
