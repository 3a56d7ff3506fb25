from edgevision.cli import main

main()
