# The notes' UDPClient.py, statement for statement, in Python 3: input()
# instead of the notes' raw_input import. A test peer, not book content.
# The one addition: the server port may be given as the first argument
# (the tests start their servers on a port the system chooses).
import sys
from socket import *

serverName = 'localhost'
serverPort = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
clientSocket = socket(AF_INET, SOCK_DGRAM)
message = input('Input lowercase sentence:')
clientSocket.sendto(message.encode(), (serverName, serverPort))
modifiedMessage, serverAddress = clientSocket.recvfrom(2048)
print('From Server: ' + modifiedMessage.decode())
clientSocket.close()
