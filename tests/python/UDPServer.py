# The notes' UDPServer.py, statement for statement, in Python 3. A test
# peer, not book content. The one addition: the port may be given as the
# first argument, and with 0 (the system chooses a free port) the server
# writes the port it got on standard error, so that a test can send to it
# while standard output stays the notes' own.
import sys
from socket import *

serverPort = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('', serverPort))
if serverPort == 0:
    print(serverSocket.getsockname()[1], file=sys.stderr)
print('The server is ready to receive')
while True:
    message, clientAddress = serverSocket.recvfrom(2048)
    print(message.decode())
    modifiedMessage = message.decode().upper()
    serverSocket.sendto(modifiedMessage.encode(), clientAddress)
