module sluice-bench/go-ws

go 1.19
