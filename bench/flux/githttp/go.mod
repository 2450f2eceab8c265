module pagoda.dev/bench/flux/githttp

go 1.25.0
