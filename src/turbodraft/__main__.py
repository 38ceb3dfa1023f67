from turbodraft.cli import main

main()
