from shaobing.cli import main

main()
