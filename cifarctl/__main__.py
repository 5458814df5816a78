from cifarctl.cli.app import main

main()
