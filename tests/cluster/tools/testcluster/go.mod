module pagoda.dev/tests/cluster/tools/testcluster

go 1.26.0
