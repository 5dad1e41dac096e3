module example.com/netgo-https

go 1.21
